"""The procedurally generated coloured-shapes VQA dataset of the embedded model."""

from luq.data.shapes import (
    ANSWERS,
    COLORS,
    QUESTION_TYPES,
    SHAPES,
    load_split,
    text_prompts,
)

__all__ = ["ANSWERS", "COLORS", "QUESTION_TYPES", "SHAPES", "load_split", "text_prompts"]
