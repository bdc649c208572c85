"""Every step of the explorer on the shipped configs at their real shape, with a memory limit.

    python -m benchmarks.real_configs [--models smolvlm-256m llava-1.5-7b ...]
                                      [--memory-gb 24] [--image-detail model|one-tile]
                                      [--questions 100] [--samples 64] [--out NAME]

Each model of ``luq.models.shaped`` is built with random weights at its exact shape (its own
image processor settings, the tiny tokenizer), on the GPU when there is one (bf16) else the
CPU (fp32), and goes through the app's steps: load, entropy profile (64 calibration samples,
k-means K=100), statistics + every block's variant at the default high and ultra-low
settings, a plan halfway between them, apply, the arena's three answers (full precision,
uniform high, the plan), a ``--questions`` evaluation, and the sensitivity probe. Each step
records its seconds and the peak memory held (GPU: PyTorch's reserved memory; CPU: RSS), under
the process memory limit ``--memory-gb`` (``luq.memlimit``; on a GPU it also caps the
allocator, so going over it fails the step). Writes ``benchmarks/results/<out>.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from benchmarks.common import print_table, write_result
from luq.calibration import CalibrationConfig
from luq.defaults import HIGH, LOW
from luq.embedded import load_split
from luq.evaluation import answer_batch
from luq.memlimit import GB, deactivate, resolve_limit
from luq.models.detail import IMAGE_DETAILS
from luq.models.shaped import SHAPED, build_shaped
from luq.pipeline import probe_damage
from luq.profile import EntropyConfig
from luq.resources import peak_rss_bytes, process_rss_bytes, reset_peak_rss
from luq.session import Session
from luq.tasks.evaluation import shapes_evaluation


def _held(device: torch.device) -> tuple[int, int]:
    """(peak since the last reset, now) of what the process holds on ``device``."""
    if device.type == "cuda":
        return torch.cuda.max_memory_reserved(device), torch.cuda.memory_reserved(device)
    return peak_rss_bytes(), process_rss_bytes()


def _reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        reset_peak_rss()


def run_model(name: str, device: torch.device, args) -> dict:
    steps: list[dict] = []

    def step(label: str, fn):
        _reset(device)
        start = time.perf_counter()
        value = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        peak, now = _held(device)
        steps.append({"model": name, "step": label,
                      "seconds": round(time.perf_counter() - start, 2),
                      "peak_gb": round(peak / GB, 2), "after_gb": round(now / GB, 2)})
        print(steps[-1], flush=True)
        return value

    loaded = step("load", lambda: build_shaped(name, device, image_detail=args.image_detail))
    session = Session(loaded, shapes_evaluation(args.questions))
    calibration = CalibrationConfig(args.samples)
    step("profile", lambda: session.profile(calibration, EntropyConfig("kmeans")))
    step("statistics + variants", lambda: session.prepare([HIGH, LOW]))
    _lo, budget, _full = session.budget_range(HIGH, LOW)
    plan = step("plan", lambda: session.plan_for_budget(budget, HIGH, LOW).plan)
    step("apply", lambda: session.run(plan, lambda _m: None))
    row = load_split("test", 1)[0]

    def arena() -> list[str]:
        return [session.run(p, lambda m: answer_batch(m.model, m.processor, [row["image"]],
                                                      [row["question"]])[0])
                for p in (None, session.uniform(HIGH), plan)]

    step("arena (3 answers)", arena)
    step(f"evaluation ({args.questions} questions)", lambda: session.accuracy(plan))
    step("sensitivity probe", lambda: probe_damage(loaded, calibration, LOW, HIGH,
                                                   session.store, source=session.source))
    resident = session.resident(plan)
    return {"model": name, "params": sum(p.numel() for p in loaded.model.parameters()),
            "dtype": str(next(loaded.model.parameters()).dtype), "steps": steps,
            "plan_ultra_low": plan.count(LOW), "accounted_bytes": resident["accounted_bytes"],
            "resident_weight_bytes": resident["resident_weight_bytes"],
            "dense_cache_bytes": session.store.dense.nbytes,
            "dense_limit_bytes": session.store.dense.limit}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=list(SHAPED), choices=list(SHAPED))
    ap.add_argument("--memory-gb", type=float, default=None,
                    help="the process memory limit (default: LUQ_MEMORY_GB or free less 10 %%)")
    ap.add_argument("--image-detail", default="model", choices=IMAGE_DETAILS)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--samples", type=int, default=64, help="calibration samples")
    ap.add_argument("--device", default=None, help="default: cuda when present, else cpu")
    ap.add_argument("--out", default="real_configs")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    os.environ.setdefault("LUQ_CACHE_DIR", tempfile.mkdtemp(prefix="luq-real-"))  # measure
    rows, models = [], []
    for name in args.models:
        limit = resolve_limit(device, args.memory_gb).activate()
        try:
            result = run_model(name, device, args)
            result["memory_limit"] = limit.describe()
            result["met"] = {"peak_under_limit": max(s["peak_gb"] for s in result["steps"])
                             <= limit.nbytes / GB}
        except (MemoryError, torch.OutOfMemoryError, ValueError) as err:
            result = {"model": name, "memory_limit": limit.describe(),
                      "error": " ".join(str(err).split())[:300]}
        finally:
            deactivate()
            if device.type == "cuda":
                torch.cuda.empty_cache()
        models.append(result)
        rows += result.get("steps", [])
    print_table(rows)
    payload = {"device": str(device), "image_detail": args.image_detail,
               "questions": args.questions, "samples": args.samples, "high": HIGH.label,
               "low": LOW.label, "models": models}
    if not args.no_write:
        print(f"wrote {write_result(args.out, payload)}")
    return payload


if __name__ == "__main__":
    main()
