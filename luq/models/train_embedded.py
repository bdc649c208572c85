"""Trains the embedded tiny LLaVA from nothing on CPU: ``python -m luq.models.train_embedded``.

Three stages, because one end-to-end stage learns answer priors, not the image:

1. **vision**: the CLIP tower alone learns, per 8x8 patch, the colour, shape and size of the
   object covering it (dense labels from the renderer's mask);
2. **language**: tower frozen; projector and decoder learn the questions, and a "describe
   the image" caption on a share of each batch;
3. **joint**: everything, at a lower learning rate.

Scenes are drawn fresh every step (deterministic by seed), so the model never sees a test
image. Progress is printed; the result is a ``save_pretrained`` folder (fp16 safetensors,
processor, model card).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlavaForConditionalGeneration

from luq.data.render import COLORS, IMAGE_SIZE, SHAPES, SIZES, random_scene, render_with_mask
from luq.data.shapes import QUESTION_TYPES, ask, describe
from luq.models.embedded import EMBEDDED_DIR, PATCH_SIZE, build_config, build_processor
from luq.models.prompting import chat_prompt

GRID = IMAGE_SIZE // PATCH_SIZE


def pixels(images, processor) -> torch.Tensor:
    """CLIP-normalised ``(B, 3, H, W)`` tensor, the same as the image processor gives."""
    ip = processor.image_processor
    arr = np.stack([np.asarray(im, dtype=np.float32) / 255.0 for im in images])  # (B,H,W,3)
    arr = (arr - np.array(ip.image_mean, dtype=np.float32)) / np.array(ip.image_std,
                                                                       dtype=np.float32)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def patch_labels(scene, mask) -> torch.Tensor:
    """``(GRID*GRID, 3)`` per-patch (colour, shape, size) class ids; 0 = background."""
    m = np.asarray(mask).reshape(GRID, PATCH_SIZE, GRID, PATCH_SIZE).transpose(0, 2, 1, 3)
    m = m.reshape(GRID * GRID, PATCH_SIZE * PATCH_SIZE)
    labels = torch.zeros(GRID * GRID, 3, dtype=torch.long)
    colors, sizes = list(COLORS), list(SIZES)
    for p in range(GRID * GRID):
        counts = np.bincount(m[p], minlength=len(scene) + 1)
        obj = int(counts[1:].argmax()) if counts[1:].max() >= 6 else -1
        if obj >= 0:
            o = scene[obj]
            labels[p] = torch.tensor([colors.index(o.color) + 1, SHAPES.index(o.shape) + 1,
                                      sizes.index(o.size) + 1])
    return labels


def vqa_batch(rng: random.Random, processor, size: int, caption_share: float):
    """Prompt+answer token batch with labels on the answer only."""
    tok = processor.tokenizer
    images, texts, prompt_lens = [], [], []
    for _ in range(size):
        scene = random_scene(rng)
        image, _ = render_with_mask(scene, rng)
        if rng.random() < caption_share:
            question, answer = "describe the image .", describe(scene)
        else:
            question, answer = ask(scene, rng.choice(QUESTION_TYPES), rng)
        prompt = chat_prompt(processor, question, True)
        images.append(image)
        texts.append(f"{prompt} {answer} <eos>")
        prompt_lens.append(len(processor(text=prompt.replace("<image>", ""))["input_ids"]))
    enc = processor(images=images, text=texts, padding=True, return_tensors="pt")
    labels = enc["input_ids"].clone()
    labels[enc["attention_mask"] == 0] = -100
    for i, n in enumerate(prompt_lens):
        labels[i, : n + 64] = -100  # prompt text + image tokens
    assert tok.pad_token_id is not None
    return enc, labels


@torch.no_grad()
def quick_accuracy(model, processor, rows) -> float:
    """Greedy first-token accuracy on (image, question, answer) rows (single forward)."""
    from luq.evaluation import evaluate

    return evaluate(model, processor, rows, batch_size=50).accuracy


def lr_at(step: int, total: int, peak: float, warmup: int = 50) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train(out: Path, seed: int, steps: tuple[int, int, int], batch: int, log,
          init: Path | None = None, joint_lr: float = 5e-4) -> dict:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    processor = build_processor()
    tok = processor.tokenizer
    if init is not None:  # continue training a saved model
        model = LlavaForConditionalGeneration.from_pretrained(init, dtype=torch.float32)
        config = model.config
    else:
        config = build_config(len(tok), tok.convert_tokens_to_ids("<image>"),
                              tok.pad_token_id, tok.bos_token_id, tok.eos_token_id)
        model = LlavaForConditionalGeneration(config)
    log(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")
    from luq.data import load_split

    probe_rows = load_split("test", 200)
    start = time.time()

    # stage 1: vision tower on per-patch attributes
    tower = model.model.vision_tower
    hidden = config.vision_config.hidden_size
    heads = nn.ModuleList([nn.Linear(hidden, len(COLORS) + 1), nn.Linear(hidden, len(SHAPES) + 1),
                           nn.Linear(hidden, len(SIZES) + 1)])
    params = list(tower.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.01)
    for step in range(steps[0]):
        scenes = [random_scene(rng) for _ in range(batch)]
        drawn = [render_with_mask(s, rng) for s in scenes]
        pv = pixels([d[0] for d in drawn], processor)
        labels = torch.stack([patch_labels(s, d[1]) for s, d in zip(scenes, drawn)])
        feats = tower(pv, output_hidden_states=True).hidden_states[-1][:, 1:]  # (B, P, H)
        loss = sum(F.cross_entropy(h(feats).flatten(0, 1), labels[..., k].flatten())
                   for k, h in enumerate(heads))
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps[0], 2e-3)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps[0] - 1:
            log(f"[vision {step + 1}/{steps[0]}] loss {loss.item():.3f} "
                f"({time.time() - start:.0f}s)")

    # stages 2 and 3: language (tower frozen), then joint
    history = []
    for stage, (n, peak, freeze) in enumerate([(steps[1], 2e-3, True), (steps[2], joint_lr, False)],
                                              start=2):
        for p in tower.parameters():
            p.requires_grad_(not freeze)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=peak,
                                weight_decay=0.01)
        for step in range(n):
            model.train()
            enc, labels = vqa_batch(rng, processor, batch, caption_share=0.3)
            loss = model(**enc, labels=labels).loss
            for g in opt.param_groups:
                g["lr"] = lr_at(step, n, peak)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if step % 50 == 0:
                log(f"[stage {stage} {step + 1}/{n}] loss {loss.item():.3f} "
                    f"({time.time() - start:.0f}s)")
            if (step + 1) % 250 == 0 or step == n - 1:
                model.eval()
                acc = quick_accuracy(model, processor, probe_rows)
                history.append({"stage": stage, "step": step + 1, "accuracy": acc,
                                "seconds": round(time.time() - start)})
                log(f"[stage {stage} {step + 1}/{n}] held-out accuracy (200 q) {acc:.3f}")
    model.eval()
    wall = time.time() - start
    out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    summary = {"seed": seed, "steps": list(steps), "batch": batch, "wall_seconds": round(wall),
               "init": str(init) if init else None, "joint_lr": joint_lr,
               "history": history,
               "parameters": sum(p.numel() for p in model.parameters())}
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=EMBEDDED_DIR)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vision-steps", type=int, default=400)
    ap.add_argument("--language-steps", type=int, default=1000)
    ap.add_argument("--joint-steps", type=int, default=750)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", type=Path, help="continue from a saved model folder")
    ap.add_argument("--joint-lr", type=float, default=5e-4)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    summary = train(args.out, args.seed,
                    (args.vision_steps, args.language_steps, args.joint_steps), args.batch,
                    log=lambda m: print(m, flush=True), init=args.init, joint_lr=args.joint_lr)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
