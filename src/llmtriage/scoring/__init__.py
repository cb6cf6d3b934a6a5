from llmtriage.scoring.scorer import Scorer, ScoreResult

__all__ = ["ScoreResult", "Scorer"]
