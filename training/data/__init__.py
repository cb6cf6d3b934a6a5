"""Training data: pinned benchmark files, the outcomes format and routing sets.

* ``datasets``        fetch and verify the files in data/manifest.json (`make data`)
* ``build_manifest``  regenerate data/manifest.json from a mirror
* ``outcomes``        `Outcomes`, `read_outcomes`, `write_outcomes`: which model answered what
* ``loaders``         the RouteLLM and LLMRouter benchmark files as `Outcomes`
* ``routing_sets``    `RoutingSet`: prompts plus a weak and a strong model's quality
* ``splits``          `stable_split`: the content-addressed train/test split

Importing this package loads none of its modules (the CLI looks its errors up lazily).
"""

__all__ = ["build_manifest", "datasets", "loaders", "outcomes", "routing_sets", "splits"]
