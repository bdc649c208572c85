"""The guidance losses of the embedded model's language stages."""

import random
from dataclasses import replace

import torch
from torch import nn

from luq.embedded.batches import ATTRIBUTES, HEAD_SIZES, vqa_batch
from luq.embedded.guidance import (
    ATTENTION_LAYER,
    KEY_LAYER,
    answer_starts,
    attention_loss,
    readout_loss,
)
from luq.embedded.model import build_processor, word_id


def test_answer_starts_mark_the_position_before_each_answer():
    labels = torch.tensor([[-100, -100, 7, 3, -100, 8, 3]])
    assert answer_starts(labels).nonzero()[:, 1].tolist() == [1, 4]


def test_attention_guidance_is_low_when_attention_is_on_target():
    processor = build_processor()
    tok = processor.tokenizer
    batch = vqa_batch(random.Random(4), processor, 4, turns=2, caption_share=0.0)
    ids = batch.inputs["input_ids"]
    image_id = tok.convert_tokens_to_ids("<image>")
    key_ids = torch.tensor([word_id(tok, w) for values in ATTRIBUTES.values() for w in values])
    user_id = word_id(tok, "user")
    b, t = ids.shape
    uniform = torch.full((b, 2, t, t), 1.0 / t)
    layers = [uniform.clone() for _ in range(max(KEY_LAYER, ATTENTION_LAYER) + 1)]
    bad = attention_loss(tuple(layers), batch, image_id, key_ids, user_id)
    # put all of the guided layer's attention on the target patches and words
    starts = answer_starts(batch.labels)
    for row in range(b):
        image_pos = (ids[row] == image_id).nonzero().squeeze(1)
        users = (ids[row] == user_id).nonzero().squeeze(1).tolist()
        for turn, pos in enumerate(starts[row].nonzero().squeeze(1).tolist()):
            target = batch.referents[row, turn]
            layers[ATTENTION_LAYER][row, :, pos] = 0
            layers[ATTENTION_LAYER][row, :, pos, image_pos] = target
            begin = max(u for u in users if u < pos)
            named = [i for i in range(begin, pos) if int(ids[row, i]) in key_ids.tolist()]
            layers[KEY_LAYER][row, :, pos] = 0
            if named:
                layers[KEY_LAYER][row, :, pos, named] = 1 / len(named)
    good = attention_loss(tuple(layers), batch, image_id, key_ids, user_id)
    assert good < 0.5 * bad


def test_the_readout_is_low_only_when_the_guided_layer_holds_the_attributes():
    batch = vqa_batch(random.Random(6), build_processor(), 6, turns=3, caption_share=0.5)
    t = batch.labels.shape[1]
    head = nn.Linear(sum(HEAD_SIZES), sum(HEAD_SIZES), bias=False)
    nn.init.eye_(head.weight)
    blank = torch.zeros(6, t, sum(HEAD_SIZES))
    # write each turn's attributes, one-hot and large, at its answer's first position
    filled = blank.clone()
    starts = answer_starts(batch.labels)
    offsets = [0, *torch.tensor(HEAD_SIZES).cumsum(0).tolist()[:-1]]
    for row in range(6):
        for turn, pos in enumerate(starts[row].nonzero().squeeze(1).tolist()):
            for k, value in enumerate(batch.referent_attributes[row, turn].tolist()):
                if value:
                    filled[row, pos, offsets[k] + value] = 20.0
    uninformed = readout_loss(blank, batch, head)
    informed = readout_loss(filled, batch, head)
    assert uninformed > 1.0 and informed < 1e-3
    # a batch without any object named (counts and captions only) adds nothing
    empty = replace(batch, referent_attributes=torch.zeros_like(batch.referent_attributes))
    assert readout_loss(filled, empty, head) == 0
