"""Trains the embedded tiny LLaVA from nothing on CPU: ``python -m luq.models.train_embedded``.

Three stages, because one end-to-end stage learns answer priors, not the image:

1. **vision**: the CLIP tower alone learns, per patch, the colour, shape, size and position
   of the object covering it and of the object centred in it (dense labels from the
   renderer's mask), through a linear head that is thrown away afterwards;
2. **language**: tower frozen; projector and decoder learn the questions, plus a
   "describe the image" caption on a share of each batch;
3. **joint**: everything, at a lower learning rate.

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

from luq.data import load_split
from luq.evaluation import evaluate
from luq.models.embedded import EMBEDDED_DIR, PATCH_SIZE, build_config, build_processor
from luq.models.model_card import write_model_card
from luq.models.train_batches import HEAD_SIZES, vision_batch, vqa_batch

Log = Callable[[str], None]
PROBE_QUESTIONS = 200  # test questions scored during training


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
                 log: Log) -> dict[str, float]:
    """Stage 1: the vision tower with a linear per-patch attribute head.

    Returns:
        Accuracy of each (label kind, attribute) head on labelled patches over the last
        50 steps.
    """
    tower = model.model.vision_tower
    head = nn.Linear(tower.config.hidden_size, 2 * sum(HEAD_SIZES))
    params = [*tower.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    hits: dict[str, list[float]] = {}
    for step in range(steps):
        pv, labels = vision_batch(rng, processor, batch, PATCH_SIZE)  # labels (B, P, 2, 4)
        feats = tower(pv, output_hidden_states=True).hidden_states[-1][:, 1:]  # (B, P, H)
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
    return {k: round(sum(v) / len(v), 4) for k, v in hits.items()}


def train_language(model, processor, rng: random.Random, steps: int, batch: int, lr: float,
                   tower_trains: bool, caption_share: float, log: Log,
                   probe: Callable[[], float], every: int = 250) -> list[dict]:
    """Stages 2 and 3: answer (and caption) loss; the tower is frozen unless ``tower_trains``.

    Returns:
        The probe accuracy every ``every`` steps and at the end.
    """
    for p in model.model.vision_tower.parameters():
        p.requires_grad_(tower_trains)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    history = []
    for step in range(steps):
        model.train()
        b = vqa_batch(rng, processor, batch, caption_share)
        loss = model(**b.inputs, labels=b.labels).loss
        _step(opt, loss, lr_at(step, steps, lr), params)
        if step % 50 == 0:
            log(f"[{'joint' if tower_trains else 'language'} {step + 1}/{steps}] "
                f"loss {loss.item():.3f}")
        if (step + 1) % every == 0 or step == steps - 1:
            model.eval()
            history.append({"step": step + 1, "accuracy": probe()})
            log(f"  held-out accuracy ({PROBE_QUESTIONS} q): {history[-1]['accuracy']:.3f}")
    for p in model.parameters():
        p.requires_grad_(True)
    return history


def train(out: Path, seed: int = 0, steps: tuple[int, int, int] = (600, 1500, 1000),
          batch: int = 32, lrs: tuple[float, float, float] = (2e-3, 2e-3, 5e-4),
          caption_share: float = 0.25, log: Log = lambda _: None) -> dict:
    """Builds the processor and model, runs the three stages and saves the folder.

    Args:
        out: the ``save_pretrained`` folder to write (created).
        seed: seeds torch and the scene stream; the same seed gives the same model.
        steps: steps of the vision, language and joint stages.
        batch: examples per step.
        lrs: peak learning rates of the three stages.
        caption_share: the share of each language batch asked to describe the image.
        log: receives one line of progress at a time.

    Returns:
        A summary (settings, wall time, stage-1 patch accuracies, probe history).
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    processor = build_processor()
    model = LlavaForConditionalGeneration(build_config(processor.tokenizer))
    params = sum(p.numel() for p in model.parameters())
    log(f"model: {params / 1e6:.2f} M parameters")
    probe_rows = load_split("test", PROBE_QUESTIONS)

    def probe() -> float:
        return evaluate(model, processor, probe_rows, batch_size=100).accuracy

    start = time.time()
    patch_accuracy = train_vision(model, processor, rng, steps[0], batch, lrs[0], log)
    log(f"vision stage done ({time.time() - start:.0f}s): patch accuracy {patch_accuracy}")
    history = {}
    for name, n, lr, tower_trains in [("language", steps[1], lrs[1], False),
                                      ("joint", steps[2], lrs[2], True)]:
        history[name] = train_language(model, processor, rng, n, batch, lr, tower_trains,
                                       caption_share, log, probe)
        log(f"{name} stage done ({time.time() - start:.0f}s)")
    wall = round(time.time() - start)
    out.mkdir(parents=True, exist_ok=True)
    model.eval().half().save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    model.float()  # the shipped fp16 weights, as readers load them in fp32
    log("scoring the test split")
    summary = {"seed": seed, "steps": list(steps), "batch": batch, "lrs": list(lrs),
               "caption_share": caption_share, "parameters": params,
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
    ap.add_argument("--vision-steps", type=int, default=600)
    ap.add_argument("--language-steps", type=int, default=1500)
    ap.add_argument("--joint-steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    summary = train(args.out, args.seed,
                    (args.vision_steps, args.language_steps, args.joint_steps), args.batch,
                    log=lambda line: print(line, flush=True))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
