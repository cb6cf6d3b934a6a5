"""Other APIs' front doors onto the same routing: Anthropic Messages and OpenAI Responses.

Each ingress translates its request into the internal `ChatRequest`, routes it through
`RoutingService` (rules, classifier, cascade and fallback chains, unchanged), and
translates the answer back into its own wire format (whole, or as its SSE events):

    messages.py / messages_stream.py    POST /v1/messages (and count_tokens.py)
    responses.py / responses_stream.py  POST /v1/responses (responses_store.py: chaining)
    turns.py                            what rules may see of the latest turn (headers)
    dialect.py                          each API's error shape and statuses
    handling.py                         the route class and what both routes share
"""
