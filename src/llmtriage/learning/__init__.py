"""Learning from traffic (issue 16): the decision log, its stores, feedback, export,
exploration and offline replay.

    record.py      DecisionRecord (one routed request) and Verdict (a judgement of one)
    log.py         DecisionLog: bounded queue + background writer, drop-and-count
    store/         DecisionStore protocol; memory, SQLite (default) and PostgreSQL
    migrations.py  the versioned schema, applied when a store opens
    exploration.py ε-exploration per router, with the propensity of each choice
    export.py      the outcomes file (README "Outcomes format") from logged verdicts
    replay.py      IPW / SNIPS estimates of a candidate threshold or artifact

Nothing here is imported by the request path unless the decision log or exploration is on.
"""
