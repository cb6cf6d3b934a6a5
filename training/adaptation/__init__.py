"""Adapting a trained artifact to a user's traffic with few labels (`llmtriage train --base`).

- design: the served feature matrix of an artifact (its own featuriser, unchanged).
- prior: ridge regression toward the base's weights, prior strength by inner CV.
- adapt: refit an artifact's difficulty head and calibration on labelled rows.
- artifact: read a base artifact and an outcomes file, write the adapted artifact.
- curve: the learning curve over leave-one-task-out tasks (`make adaptation`).
"""
