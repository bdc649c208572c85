"""Training batches of the embedded model: labels and inputs the model really gets."""

import random

import torch

from luq.embedded import load_split
from luq.embedded.batches import (
    ATTRIBUTES,
    conversation,
    patch_labels,
    pixels,
    vqa_batch,
)
from luq.embedded.model import IMAGE_TOKENS, PATCH_SIZE, build_processor, word_id
from luq.embedded.render import random_scene, render_with_mask
from luq.models.prompting import chat_prompt


def test_training_pixels_match_the_processor():
    processor = build_processor()
    images = list(load_split("test", 4)["image"])
    ours = pixels(images, processor)
    theirs = processor.image_processor(images, return_tensors="pt")["pixel_values"]
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_patch_labels_mark_every_object_once_at_its_centre():
    rng = random.Random(0)
    for _ in range(20):
        scene = random_scene(rng)
        _, mask = render_with_mask(scene, rng)
        labels = patch_labels(scene, mask, PATCH_SIZE)  # (P, 2, 4)
        assert labels.shape == (IMAGE_TOKENS, 2, len(ATTRIBUTES))
        centres = labels[:, 1]
        assert int((centres[:, 0] > 0).sum()) == len(scene)
        colours = sorted(int(c) for c in centres[:, 0] if c > 0)
        assert colours == sorted(list(ATTRIBUTES["color"]).index(o.color) + 1 for o in scene)
        # cover labels need an eighth of a patch: every object but the smallest has some
        import numpy as np

        area = np.bincount(np.asarray(mask).ravel(), minlength=len(scene) + 1)[1:]
        covered = {int(c) for c in labels[:, 0, 0] if c > 0}
        for index, obj in enumerate(scene):
            if area[index] >= PATCH_SIZE * PATCH_SIZE // 2:
                assert list(ATTRIBUTES["color"]).index(obj.color) + 1 in covered


def test_vqa_batch_starts_like_a_test_prompt_and_labels_only_the_answers():
    processor = build_processor()
    tok = processor.tokenizer
    image = load_split("test", 1)["image"][0]
    batch = vqa_batch(random.Random(1), processor, 6, turns=3, caption_share=0.5)
    ids, labels = batch.inputs["input_ids"], batch.labels
    for i in range(len(ids)):
        n = int(batch.inputs["attention_mask"][i].sum())
        turns = tok.decode(ids[i, :n]).split("assistant :")
        first_question = turns[0].split("<image>")[-1].strip()
        expected = processor(images=image, text=chat_prompt(processor, first_question, True),
                             return_tensors="pt")
        assert ids[i, :expected["input_ids"].shape[1]].tolist() == expected["input_ids"][0].tolist()
        answers = [t.split("<eos>")[0].strip() for t in turns[1:]]
        assert 2 <= len(answers) <= 4 and len(set(answers[:-1])) >= 1
        said = tok.decode(labels[i][labels[i] != -100])
        assert said == " ".join(f"{a}<eos>" for a in answers)
    assert batch.inputs["pixel_values"].shape == (6, 3, 64, 64)


def test_conversations_ask_distinct_questions_and_caption_last():
    rng = random.Random(2)
    for _ in range(30):
        chat = conversation(rng, random_scene(rng), 3, caption_share=1.0)
        questions = [m["content"][-1]["text"] for m in chat if m["role"] == "user"]
        assert len(set(questions)) == len(questions)
        assert questions[-1] == "describe the image ."
        assert chat[0]["content"][0] == {"type": "image"}


def test_referent_is_the_object_the_question_names():
    from luq.embedded.batches import referent
    from luq.embedded.render import Obj

    scene = (Obj("red", "circle", "small", "left"), Obj("blue", "square", "large", "right"))
    assert referent(scene, "what color is the square ?") == 1
    assert referent(scene, "what shape is the red object ?") == 0
    assert referent(scene, "what color is the object on the right ?") == 1
    assert referent(scene, "what size is the blue square ?") == 1
    assert referent(scene, "how many objects are there ?") is None
    assert referent(scene, "describe the image .") is None


def test_batches_carry_where_each_answer_should_look():
    processor = build_processor()
    batch = vqa_batch(random.Random(3), processor, 8, turns=3, caption_share=0.5)
    ref = batch.referents
    assert ref.shape == (8, 4, IMAGE_TOKENS)
    sums = ref.sum(-1)
    assert torch.all(((sums - 1).abs() < 1e-5) | (sums == 0))
    assert (sums > 0).sum() >= 8  # most questions name an object


def test_batches_carry_the_attributes_of_the_object_each_answer_is_about():
    from luq.embedded.guidance import answer_starts
    from luq.embedded.render import COLORS

    processor = build_processor()
    batch = vqa_batch(random.Random(5), processor, 8, turns=3, caption_share=0.5)
    attrs = batch.referent_attributes
    assert attrs.shape == (8, 4, len(ATTRIBUTES))
    named = batch.referents.sum(-1) > 0
    # a turn has attributes exactly when it has an object to look at, all four of them
    assert torch.equal(attrs[..., 0] > 0, named)
    assert torch.all((attrs[named] > 0).all(-1))
    assert int(attrs[..., 0].max()) <= len(COLORS)
    # the object's colour word is the answer when a colour question names it by shape or slot
    tok = processor.tokenizer
    colour_ids = {word_id(tok, c): i + 1 for i, c in enumerate(COLORS)}
    starts = answer_starts(batch.labels)
    checked = 0
    for row in range(8):
        for turn, pos in enumerate(starts[row].nonzero().squeeze(1).tolist()):
            answer = int(batch.labels[row, pos + 1])
            question = tok.decode(batch.inputs["input_ids"][row, :pos])
            if answer in colour_ids and "what color" in question.rsplit("user", 1)[-1]:
                assert int(attrs[row, turn, 0]) == colour_ids[answer]
                checked += 1
    assert checked > 0
