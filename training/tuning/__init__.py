"""Cut-points for a stated target (`llmtriage tune`).

* ``tune``      the public names of ``search`` and ``held_out`` in one place
* ``search``    `choose_cutpoints`, `Target`, `parse_target`
* ``held_out``  the held-out protocol and its report with bootstrap intervals
* ``cli``       `llmtriage tune` (imported when the CLI starts: keep it light)
"""

__all__ = ["cli", "held_out", "search", "tune"]
