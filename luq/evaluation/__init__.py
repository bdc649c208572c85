"""VQA answering and scoring: greedy answers, exact match, the VQA accuracy metric."""

from luq.evaluation.answer import answer_batch, normalize_answer
from luq.evaluation.runner import EvalResult, evaluate
from luq.evaluation.vqa import vqa_accuracy

__all__ = ["EvalResult", "answer_batch", "evaluate", "normalize_answer", "vqa_accuracy"]
