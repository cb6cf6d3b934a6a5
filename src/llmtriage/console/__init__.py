"""The operations console: `/console` (a page served by the app, no build step) and the
`/v1/stats/...` JSON endpoints it polls.

feed.py counts what the console shows into the shared aggregates (the request path: a
few dict updates per request, no I/O); views.py reads the aggregates back into typed
view models; routes live in server/routes/console.py.
"""
