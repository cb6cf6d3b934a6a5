from llmtriage.scoring.scorer import ScoreResult, Scorer

__all__ = ["ScoreResult", "Scorer"]
