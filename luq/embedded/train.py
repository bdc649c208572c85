"""Trains the embedded tiny LLaVA from nothing on CPU: ``python -m luq.embedded.train``.

Three stages, because one end-to-end stage learns answer priors, not the image:

1. **vision**: the vision tower alone learns, per patch, the colour, shape, size and position
   of the object covering it and of the object centred in it (dense labels from the
   renderer's mask), through a linear head that then seeds the projector's first layer;
2. **language**: tower frozen; projector and decoder learn multi-question chats about each
   image, plus a "describe the image" caption on a share of them, with two attention
   steps guided (:func:`attention_loss`): from each answer onto the question's naming
   words, and onto the image tokens of the object they name. Trained on answers alone,
   a decoder this small learns every answer that needs no search for the object and
   plateaus near 73 % (the accuracy of guessing among the objects present). A linear
   read-out (:func:`readout_loss`) asks the guided layer's output at each answer for every
   attribute of that object, so that colour is carried as well as the attribute that found it;
3. **joint**: everything, at a lower learning rate, still guided and read out.

Scenes are drawn fresh every step (deterministic by seed), so the model never sees a test
image. The result is a ``save_pretrained`` folder (fp16 safetensors, processor, model card).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlavaForConditionalGeneration

from luq.embedded import load_split
from luq.embedded.batches import ATTRIBUTES, HEAD_SIZES, vision_batch, vqa_batch
from luq.embedded.card import write_model_card
from luq.embedded.guidance import ATTENTION_LAYER, attention_loss, readout_loss
from luq.embedded.model import (
    EMBEDDED_DIR,
    PATCH_SIZE,
    build_config,
    build_processor,
    sentencepiece_model,
    word_id,
)
from luq.evaluation import EvalResult, evaluate

Log = Callable[[str], None]
PROBE_QUESTIONS = 200  # validation questions scored during training


def lr_at(step: int, total: int, peak: float, warmup: int = 50) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor, lr: float, params) -> None:
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()


def train_vision(model, processor, rng: random.Random, steps: int, batch: int, lr: float,
                 log: Log) -> tuple[dict[str, float], nn.Linear]:
    """Stage 1: the vision tower with a linear per-patch attribute head.

    Returns:
        Accuracy of each (label kind, attribute) head on labelled patches over the last
        50 steps, and the trained head.
    """
    tower = model.model.vision_tower
    head = nn.Linear(tower.config.hidden_size, 2 * sum(HEAD_SIZES))
    params = [*tower.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    hits: dict[str, list[float]] = {}
    for step in range(steps):
        pv, labels = vision_batch(rng, processor, batch, PATCH_SIZE)  # labels (B, P, 2, 4)
        feats = tower(pv, output_hidden_states=True).hidden_states[-1]
        feats = feats[:, feats.shape[1] - labels.shape[1]:]  # (B, P, H): a class token dropped
        logits = head(feats).split([*HEAD_SIZES, *HEAD_SIZES], dim=-1)
        loss = torch.zeros(())
        for i, lg in enumerate(logits):
            target = labels[..., i // len(HEAD_SIZES), i % len(HEAD_SIZES)].flatten()
            loss = loss + F.cross_entropy(lg.flatten(0, 1), target)
            if step >= steps - 50:
                on = target > 0
                hits.setdefault(f"{'cover' if i < len(HEAD_SIZES) else 'centre'}{i % 4}",
                                []).append((lg.flatten(0, 1)[on].argmax(-1) == target[on])
                                           .float().mean().item())
        _step(opt, loss, lr_at(step, steps, lr), params)
        if step % 50 == 0 or step == steps - 1:
            log(f"[vision {step + 1}/{steps}] loss {loss.item():.3f}")
    return {k: round(sum(v) / len(v), 4) for k, v in hits.items()}, head


def seed_projector(model, head: nn.Linear) -> None:
    """Starts the projector's first layer with the stage-1 attribute head.

    The tower's raw features are dominated by colour; read through the head, every
    attribute (shape and position too) reaches the decoder as an explicit logit, which the
    decoder learns to use far sooner than a random projection of the same features.
    """
    first = model.model.multi_modal_projector.linear_1
    n = head.out_features
    if n > first.out_features:
        raise ValueError(f"projector too narrow ({first.out_features}) for {n} head outputs")
    with torch.no_grad():
        first.weight[:n] = head.weight
        first.bias[:n] = head.bias


def train_language(model, processor, rng: random.Random, steps: int, batch: int, lr: float,
                   tower_trains: bool, turns: int, caption_share: float, log: Log,
                   probe: Callable[[], EvalResult], every: int = 250,
                   attention_weight: float = 0.0, readout_weight: float = 0.0) -> list[dict]:
    """Stages 2 and 3: answer (and caption) loss; the tower is frozen unless ``tower_trains``.

    ``attention_weight`` weighs :func:`attention_loss`, ``readout_weight``
    :func:`readout_loss` (its linear head trained here and then dropped).

    Returns:
        The probe accuracy every ``every`` steps and at the end.
    """
    for p in model.model.vision_tower.parameters():
        p.requires_grad_(tower_trains)
    params = [p for p in model.parameters() if p.requires_grad]
    if readout_weight > 0:
        readout = nn.Linear(model.config.text_config.hidden_size, sum(HEAD_SIZES))
        params += list(readout.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    history = []
    tok = processor.tokenizer
    key_ids = torch.tensor([word_id(tok, w) for values in ATTRIBUTES.values() for w in values])
    user_id = word_id(tok, "user")
    for step in range(steps):
        model.train()
        b = vqa_batch(rng, processor, batch, turns, caption_share)
        out = model(**b.inputs, labels=b.labels, output_attentions=attention_weight > 0,
                    output_hidden_states=readout_weight > 0)
        loss = out.loss
        guide = read = None
        if attention_weight > 0:
            guide = attention_loss(out.attentions, b, model.config.image_token_id,
                                   key_ids, user_id)
            loss = loss + attention_weight * guide
        if readout_weight > 0:
            read = readout_loss(out.hidden_states[ATTENTION_LAYER + 1], b, readout)
            loss = loss + readout_weight * read
        _step(opt, loss, lr_at(step, steps, lr), params)
        if step % 50 == 0:
            log(f"[{'joint' if tower_trains else 'language'} {step + 1}/{steps}] "
                f"answer loss {out.loss.item():.3f}"
                + (f", attention loss {guide.item():.3f}" if guide is not None else "")
                + (f", readout loss {read.item():.3f}" if read is not None else ""))
        if (step + 1) % every == 0 or step == steps - 1:
            model.eval()
            result = probe()
            history.append({"step": step + 1, "accuracy": result.accuracy,
                            "per_type": result.per_type})
            log(f"  validation accuracy ({PROBE_QUESTIONS} calibration-split q): "
                f"{result.accuracy:.3f} {result.per_type}")
    for p in model.parameters():
        p.requires_grad_(True)
    return history


def train(out: Path, seed: int = 0, steps: tuple[int, int, int] = (4000, 600, 1500),
          batch: int = 32, lrs: tuple[float, float, float] = (2e-3, 2e-3, 1e-3),
          turns: int = 4, caption_share: float = 0.3, attention_weight: float = 1.0,
          readout_weight: float = 5.0, log: Log = lambda _: None) -> dict:
    """Builds the processor and model, runs the three stages and saves the folder.

    Args:
        out: the ``save_pretrained`` folder to write (created).
        seed: seeds torch and the scene stream; the same seed gives the same model.
        steps: steps of the vision, language and joint stages.
        batch: examples per step.
        lrs: peak learning rates of the three stages.
        turns: questions per image in the language stages (a multi-turn chat).
        caption_share: the share of images whose chat ends with a caption request.
        attention_weight: weight of the attention guidance (:func:`attention_loss`) in the
            language and joint stages; 0 trains on answers alone.
        readout_weight: weight of the attribute read-out (:func:`readout_loss`) in the
            language and joint stages; 0 leaves it out.
        log: receives one line of progress at a time.

    Returns:
        A summary (settings, wall time, stage-1 patch accuracies, probe history).
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    spm_model = sentencepiece_model()
    processor = build_processor(spm_model)
    model = LlavaForConditionalGeneration(build_config(processor.tokenizer))
    if attention_weight > 0:
        model.set_attn_implementation("eager")  # attention weights for the guidance
    params = sum(p.numel() for p in model.parameters())
    log(f"model: {params / 1e6:.2f} M parameters")
    probe_rows = load_split("calibration", PROBE_QUESTIONS)  # never the test split

    def probe() -> EvalResult:
        return evaluate(model, processor, probe_rows, batch_size=100)

    start = time.time()
    patch_accuracy, head = train_vision(model, processor, rng, steps[0], batch, lrs[0], log)
    seed_projector(model, head)
    log(f"vision stage done ({time.time() - start:.0f}s): patch accuracy {patch_accuracy}")
    history = {}
    for name, n, lr, tower_trains in [("language", steps[1], lrs[1], False),
                                      ("joint", steps[2], lrs[2], True)]:
        history[name] = train_language(model, processor, rng, n, batch, lr, tower_trains,
                                       turns, caption_share, log, probe,
                                       attention_weight=attention_weight,
                                       readout_weight=readout_weight)
        log(f"{name} stage done ({time.time() - start:.0f}s)")
    wall = round(time.time() - start)
    model.set_attn_implementation("sdpa")
    out.mkdir(parents=True, exist_ok=True)
    model.eval().half().save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    (out / "tokenizer.model").write_bytes(spm_model)  # what llama.cpp's converter reads
    model.float()  # the shipped fp16 weights, as readers load them in fp32
    log("scoring the test split")
    summary = {"seed": seed, "steps": list(steps), "batch": batch, "lrs": list(lrs),
               "turns": turns, "caption_share": caption_share,
               "attention_weight": attention_weight, "readout_weight": readout_weight,
               "parameters": params,
               "threads": torch.get_num_threads(), "wall_seconds": wall,
               "patch_accuracy": patch_accuracy, "history": history,
               "test": evaluate(model, processor, load_split("test"), batch_size=100).to_dict()}
    (out / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_model_card(out, model.config, summary)
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=EMBEDDED_DIR)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vision-steps", type=int, default=4000)
    ap.add_argument("--language-steps", type=int, default=600)
    ap.add_argument("--joint-steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--turns", type=int, default=4, help="questions per image in a chat")
    ap.add_argument("--attention-weight", type=float, default=1.0,
                    help="weight of the attention guidance (0 = answers only)")
    ap.add_argument("--readout-weight", type=float, default=5.0,
                    help="weight of the attribute read-out at the guided layer (0 = none)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    summary = train(args.out, args.seed,
                    (args.vision_steps, args.language_steps, args.joint_steps), args.batch,
                    turns=args.turns, attention_weight=args.attention_weight,
                    readout_weight=args.readout_weight,
                    log=lambda line: print(line, flush=True))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
