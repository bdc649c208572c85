"""The embedded model: its coloured-shapes VQA data, architecture, training recipe and card."""

from luq.embedded.shapes import (
    ANSWERS,
    COLORS,
    QUESTION_TYPES,
    SHAPES,
    load_split,
    text_prompts,
)

__all__ = ["ANSWERS", "COLORS", "QUESTION_TYPES", "SHAPES", "load_split", "text_prompts"]
