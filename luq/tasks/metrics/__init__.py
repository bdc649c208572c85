"""Per-benchmark scoring rules as pure functions (no data loading, no model)."""

from luq.tasks.metrics.choice import (
    CIRCULAR_STRIDE,
    circular_accuracy,
    mmbench_extract,
    scienceqa_correct,
)
from luq.tasks.metrics.match import anls, gqa_match, levenshtein, relaxed_correct
from luq.tasks.metrics.yesno import (
    COGNITION,
    PERCEPTION,
    mme_category_scores,
    mme_parse,
    pope_metrics,
)

__all__ = ["CIRCULAR_STRIDE", "COGNITION", "PERCEPTION", "anls", "circular_accuracy",
           "gqa_match", "levenshtein", "mme_category_scores", "mme_parse", "mmbench_extract",
           "pope_metrics", "relaxed_correct", "scienceqa_correct"]
