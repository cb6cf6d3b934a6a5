"""The cascade's verifier: P(the cheap model's answer is good | prompt, answer).

* ``train``  `load_examples`, `train`, `held_out_confidence`, `escalation_curve`;
  `python -m llmtriage_train.verifier --out models/verifier`
"""

__all__ = ["train"]
