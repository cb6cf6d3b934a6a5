"""Offline half of llmtriage: data, embeddings, classifier fitting, evaluation, tuning.

Never imported by the serving path. Sub-packages, each depending only on those listed
before it (so no import circle):

* ``data``           benchmark files, the outcomes format, routing sets, fixed splits
* ``features``       feature matrices, the embedding cache, the distilled static embedder
* ``evaluation``     routing metrics (APGR, CPT, AUC, Brier) and evaluation reports
* ``model``          fitting the heads, model selection, export, the `--data` pipeline
* ``tuning``         cut-points for a target (`llmtriage tune`)
* ``verifier``       the cascade's answer verifier
* ``generalisation`` leave-one-task-out and the default difficulty scorer (`make train`)
* ``savings``        measured cost and quality of every routing strategy

``cli`` registers `llmtriage train` and `llmtriage evaluate`.
"""
