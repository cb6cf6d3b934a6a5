"""Offline half of llmtriage: data, embeddings, classifier fitting, evaluation, tuning.

Never imported by the serving path.
"""
