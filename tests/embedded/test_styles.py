"""The shipped model answers pictures drawn in styles it was not shown, by code it never saw."""

import pytest
import torch
from held_out import STYLES, draw, style_split
from transformers import AutoModelForImageTextToText, AutoProcessor

from luq.embedded.model import EMBEDDED_DIR
from luq.evaluation import evaluate

# The floors: >= 95 % over all held-out styles, no style below 90 %.
OVERALL, EACH = 0.95, 0.90


@pytest.fixture(scope="module")
def shipped():
    processor = AutoProcessor.from_pretrained(EMBEDDED_DIR)
    model = AutoModelForImageTextToText.from_pretrained(EMBEDDED_DIR, dtype=torch.float32)
    return model.eval(), processor


def test_held_out_styles(shipped):
    model, processor = shipped
    results = {s: evaluate(model, processor, style_split(s), batch_size=50) for s in STYLES}
    accuracy = {s: round(r.accuracy, 3) for s, r in results.items()}
    overall = sum(r.accuracy * r.n for r in results.values()) / sum(r.n for r in results.values())
    assert overall >= OVERALL, accuracy
    assert min(accuracy.values()) >= EACH, accuracy


def test_held_out_pictures_are_the_styles_they_name():
    """Guards the test's own renderer: each style really differs where it says."""
    import random

    import numpy as np

    from luq.embedded.render import Obj

    scene = (Obj("red", "circle", "large", "middle"),)
    dark = draw(scene, "dark background", random.Random(0))
    assert max(dark.getpixel((0, 0))) < 40
    def coloured(image):  # pixels of the object's colour
        return int((np.asarray(image) == (220, 40, 40)).all(-1).sum())

    filled = draw(scene, "mid-grey background", random.Random(0))
    outlined = draw(scene, "outlined shapes", random.Random(0))
    assert outlined.size == (64, 64) and 0 < coloured(outlined) < 0.6 * coloured(filled)
    assert draw(scene, "256 px canvas", random.Random(0)).size == (256, 256)
