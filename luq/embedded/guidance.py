"""Guidance for the embedded model's language stages: losses beside the answer loss.

Both act at each answer's first position (the ``:`` after ``assistant``), on the turns whose
question names one object (``VqaBatch.referents`` / ``referent_attributes``, from the
renderer's masks): :func:`attention_loss` guides where two decoder layers look,
:func:`readout_loss` asks what the guided layer's output holds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from luq.embedded.batches import HEAD_SIZES


def answer_starts(labels: torch.Tensor) -> torch.Tensor:
    """``(B, T-1)`` True where an answer starts next: each answer's first position."""
    return (labels[:, 1:] != -100) & (labels[:, :-1] == -100)


KEY_LAYER = 0  # decoder layer guided from each answer onto the question's naming words
ATTENTION_LAYER = 2  # decoder layer guided from each answer onto the object asked about


def _cross_entropy(att_row: torch.Tensor, positions: torch.Tensor,
                   target: torch.Tensor) -> torch.Tensor:
    return -(target * att_row[positions].clamp_min(1e-6).log()).sum()


def attention_loss(attentions: tuple[torch.Tensor, ...], b, image_token_id: int,
                   key_ids: torch.Tensor, user_id: int) -> torch.Tensor:
    """Guides two attention steps from each answer's first position (mean over heads).

    Finding the object a question names is the step a small decoder trained only on answers
    stalls at: it learns every answer that needs no search and plateaus (about 73 % here,
    the accuracy of guessing among the objects present). So, from the renderer's masks:
    layer ``KEY_LAYER`` is guided onto the question's naming words (a colour, shape or slot)
    and layer ``ATTENTION_LAYER`` onto the image tokens of the object they name.
    """
    keys_att, image_att = attentions[KEY_LAYER].mean(1), attentions[ATTENTION_LAYER].mean(1)
    ids = b.inputs["input_ids"]
    starts = answer_starts(b.labels)
    losses = []
    for row in range(ids.shape[0]):
        image_pos = (ids[row] == image_token_id).nonzero().squeeze(1)
        users = (ids[row] == user_id).nonzero().squeeze(1).tolist()
        for turn, t in enumerate(starts[row].nonzero().squeeze(1).tolist()):
            if turn >= b.referents.shape[1] or b.referents[row, turn].sum() == 0:
                continue
            losses.append(_cross_entropy(image_att[row, t], image_pos, b.referents[row, turn]))
            begin = max(u for u in users if u < t)
            span = torch.arange(begin, t)
            named = span[torch.isin(ids[row, begin:t], key_ids)]
            if len(named):
                losses.append(_cross_entropy(keys_att[row, t], named,
                                             torch.full((len(named),), 1 / len(named))))
    return torch.stack(losses).mean() if losses else image_att.new_zeros(())


def readout_loss(hidden: torch.Tensor, b, head: nn.Linear) -> torch.Tensor:
    """Every attribute of the object a turn is about, read from each answer's first position.

    ``hidden`` is the output of decoder layer ``ATTENTION_LAYER`` (the one guided onto that
    object); a linear ``head`` predicts the object's colour, shape, size and position there.
    An answer needs only one of them, so on answers alone the decoder can settle on moving
    the attribute that finds an object (its colour, for "what shape is the red object ?")
    and not the one asked for (colour, for "what color is the cross ?"): with 8-pixel
    patches it answered colour questions at chance through 1500 joint steps. Asking every
    guided turn for all four attributes makes that layer carry them all.
    """
    starts = answer_starts(b.labels)
    rows, targets = [], []
    for row in range(hidden.shape[0]):
        for turn, t in enumerate(starts[row].nonzero().squeeze(1).tolist()):
            if turn < b.referent_attributes.shape[1] and b.referent_attributes[row, turn, 0]:
                rows.append(hidden[row, t])
                targets.append(b.referent_attributes[row, turn])
    if not rows:
        return hidden.new_zeros(())
    logits = head(torch.stack(rows)).split(list(HEAD_SIZES), dim=-1)
    target = torch.stack(targets)  # (N, 4)
    return torch.stack([F.cross_entropy(lg, target[:, i]) for i, lg in enumerate(logits)]).mean()
