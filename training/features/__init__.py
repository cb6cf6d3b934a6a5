"""Features for training, computed with the serving code's own functions.

* ``featurize``    `raw_features`, `Scaling`: embedding, statistics and TF-IDF blocks
* ``embed_cache``  `EmbeddingCache`: embeddings keyed by embedder and text hash
* ``distill``      `ensure_static_embedder`: the default model2vec embedder
"""

__all__ = ["distill", "embed_cache", "featurize"]
