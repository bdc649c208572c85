"""Command line: ``python -m luq {memory,profile,plan,eval,sweep,export} ...``; JSON on stdout.

The parser lives here; what each command does is in ``luq.commands``.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext

from luq import commands
from luq.defaults import HIGH, LOW, RESEARCH_HIGH, RESEARCH_LOW
from luq.entropy import ESTIMATORS
from luq.estimate import AUTO_EMBED_BITS
from luq.export.formats import FORMATS
from luq.export.rules import ULTRA_LOW_TYPES
from luq.models.detail import IMAGE_DETAILS
from luq.quant import ggml_types
from luq.quant.registry import method_names
from luq.quant.spec import QuantSpec
from luq.select import ORDERS
from luq.tasks.registry import task_names
from luq.tasks.task import HARNESSES
from luq.tower import TOWER_TYPES


def _add_spec_args(p: argparse.ArgumentParser, prefix: str, default: QuantSpec,
                   what: str) -> None:
    """``--[prefix-]method/bits/group-size/split/type``; nothing given means ``default``."""
    dash, key = (f"{prefix}-", f"{prefix}_") if prefix else ("", "")
    research = RESEARCH_LOW if default.bits <= 2 else RESEARCH_HIGH
    p.set_defaults(**{f"{key}default_spec": default, f"{key}research_spec": research})
    p.add_argument(f"--{dash}method", choices=method_names(),
                   help=f"{what} quantization method (default: {default.label})")
    p.add_argument(f"--{dash}bits", type=int,
                   help=f"{what} bits of a research method (default {research.bits})")
    p.add_argument(f"--{dash}group-size", type=int,
                   help=f"{what} group size, 0 = per-channel (default {research.group_size})")
    p.add_argument(f"--{dash}split", action=argparse.BooleanOptionalAction,
                   help=f"{what}: billm split scales (a membership bit per weight; default on)")
    p.add_argument(f"--{dash}type", choices=ggml_types.OFFERED,
                   help=f"{what}: the llama.cpp type (method ggml; quantized by ggml itself, "
                        f"bits and block follow from it)")


def _add_task_args(p: argparse.ArgumentParser, what: str, n: int) -> None:
    p.add_argument("--task", choices=task_names(),
                   help="the VQA task to score (default: shapes for the embedded model, "
                        "textvqa_val otherwise)")
    p.add_argument("--data", help="the task's data: a hub id, a save_to_disk folder, parquet "
                   "files, or an image folder with a metadata file (default: the task's hub "
                   "dataset)")
    p.add_argument("--n", "--limit", dest="n", type=int, default=n,
                   help=f"deterministic sample of {what}")
    _add_harness_arg(p)


def _add_harness_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--harness", default="official", choices=HARNESSES,
                   help="scoring rules: each benchmark's own (official, default) or lmms-eval "
                        "0.7.3's as it runs, quirks included; replies are stripped either way")


def _add_calibration_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calibration", help="calibration images and questions: a task name or "
                   "a data path / hub id (default: shapes for the embedded model, TextVQA "
                   "train otherwise)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m luq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("memory", help="weight memory of a model under a plan, from its config "
                       "alone (no weights loaded)")
    p.add_argument("--model", required=True, help="registry name, local folder or hub id")
    _add_spec_args(p, "", HIGH, "uniform")
    p.add_argument("--plan", help="a BitPlan JSON file instead of a uniform setting")
    p.add_argument("--budget-mb", type=float,
                   help="how many blocks must go ultra-low (--low-*) to fit this budget")
    _add_spec_args(p, "low", LOW, "ultra-low (with --budget-mb)")
    p.add_argument("--profile", help="with --budget-mb: a profile JSON, to name which blocks "
                   "go ultra-low (lowest entropy first)")
    p.add_argument("--embed-bits", type=int, default=None,
                   help="also store embeddings and lm_head with RTN at these bits (group "
                        "64), as llama.cpp deployments do; 0 keeps them in fp16. Default: "
                        f"fp16, or {AUTO_EMBED_BITS} bits when a --budget-mb cannot be met "
                        "otherwise")
    p.add_argument("--tower", default="F16", choices=TOWER_TYPES,
                   help="the vision tower's and projector's llama.cpp type (default F16)")
    p.set_defaults(func=commands.cmd_memory)

    p = sub.add_parser("profile", help="per-layer activation entropy, image vs text tokens")
    p.add_argument("--model", default="embedded")
    _add_calibration_arg(p)
    p.add_argument("--samples", type=int, default=64, help="calibration prompts (default 64)")
    p.add_argument("--alpha", type=float, default=0.5,
                   help="share of image+question prompts; the rest are text-only (default 0.5)")
    p.add_argument("--estimator", default="kmeans", choices=ESTIMATORS)
    p.add_argument("--clusters", type=int, default=100, help="k-means K (default 100)")
    p.add_argument("--bins", type=int, default=256, help="histogram bins (default 256)")
    p.add_argument("--max-tokens", type=int, default=2048,
                   help="token vectors kept per layer and modality (default 2048)")
    p.add_argument("--linears", action="store_true", help="also profile each linear")
    p.add_argument("--sensitivity", action="store_true",
                   help="also measure each layer's damage when it alone goes ultra-low")
    _add_spec_args(p, "low", LOW, "ultra-low (for --sensitivity)")
    _add_spec_args(p, "high", HIGH, "high (for --sensitivity)")
    p.add_argument("--labelled", type=int, default=100,
                   help="labelled questions for sensitivity_acc (embedded data; 0 = none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cache", action="store_true", help="recompute even if cached")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.set_defaults(func=commands.cmd_profile)

    p = sub.add_parser("plan", help="greedy LUQ plan under a memory budget")
    p.add_argument("--profile", required=True, help="JSON written by `profile`")
    p.add_argument("--model", help="defaults to the profile's model")
    p.add_argument("--budget-mb", type=float, help="total weight memory, MB (memory rule)")
    p.add_argument("--min-accuracy", type=float,
                   help="performance rule (the paper's second): keep sending blocks ultra-low "
                        "while accuracy on --n embedded test questions stays at or above this "
                        "(loads the model); with --budget-mb both rules apply")
    _add_task_args(p, "documents for --min-accuracy (default 100)", 100)
    _add_calibration_arg(p)
    p.add_argument("--samples", type=int, default=64, help="calibration prompts (default 64)")
    _add_spec_args(p, "low", LOW, "ultra-low")
    _add_spec_args(p, "high", HIGH, "high")
    p.add_argument("--order", default="entropy", choices=[*ORDERS, "allocate"],
                   help="allocate: one type per block among --types (default: the llama.cpp "
                        "types between --low-type and --high-type), least summed measured "
                        "damage in the budget (exact; loads the model and probes each type)")
    p.add_argument("--types", nargs="+", choices=ggml_types.OFFERED,
                   help="with --order allocate: the candidate llama.cpp types")
    p.add_argument("--min-speed", type=float,
                   help="with --order allocate: predicted llama.cpp decode speed at least this "
                        "times uniform Q4_K_M's (1: as fast; luq.speed's cost table)")
    p.add_argument("--modality", default="all", choices=["all", "image", "text"],
                   help="which entropy orders the layers (default: all tokens)")
    p.add_argument("--seed", type=int, default=0, help="for --order random")
    p.add_argument("--out", required=True, help="BitPlan JSON file to write")
    p.set_defaults(func=commands.cmd_plan)

    p = sub.add_parser("eval", help="a VQA task's metrics, optionally under a plan")
    p.add_argument("--model", default="embedded")
    p.add_argument("--plan", help="BitPlan JSON to apply first (default: full precision)")
    _add_task_args(p, "documents (default 200; 0 = all)", 200)
    p.add_argument("--batch-size", type=int, default=8, help="questions answered together")
    p.add_argument("--predictions-out", help="also write the answers as JSONL "
                   "(doc_id, prediction), the format `score` reads")
    p.add_argument("--engine", default="torch", choices=["torch", "llamacpp"],
                   help="llamacpp: export the plan as GGUF (+ mmproj) and answer in llama.cpp; "
                        "reports file bytes, RSS after load, prompt and decode tok/s")
    p.add_argument("--ultra-low", choices=ULTRA_LOW_TYPES,
                   help="with --engine llamacpp: GGUF type of the ultra-low blocks")
    p.add_argument("--gguf-dir", help="with --engine llamacpp: keep the GGUF files here")
    p.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    p.set_defaults(func=commands.cmd_eval)

    p = sub.add_parser("score", help="score predictions made by any tool by a task's rules")
    p.add_argument("--task", required=True, choices=task_names())
    p.add_argument("--data", help="hub id, save_to_disk folder, parquet or image folder "
                   "(default: the task's hub dataset)")
    p.add_argument("--predictions", required=True,
                   help='JSONL, one {"doc_id": N, "prediction": "..."} per line; doc_id is '
                        "the row's 0-based position in the split, as in lmms-eval's logs")
    p.add_argument("--limit", type=int, help="score only this deterministic sample")
    _add_harness_arg(p)
    p.add_argument("--per-doc", metavar="FILE",
                   help="also write one JSON line per document: doc_id, prediction and its "
                        "score under each rule set (to diff against a harness's sample log)")
    p.set_defaults(func=commands.cmd_score)

    p = sub.add_parser("sweep", help="memory-vs-accuracy curve for every order")
    p.add_argument("--model", default="embedded")
    _add_task_args(p, "documents per point (default 200)", 200)
    _add_calibration_arg(p)
    _add_spec_args(p, "low", LOW, "ultra-low")
    _add_spec_args(p, "high", HIGH, "high")
    p.add_argument("--orders", nargs="+", default=["entropy", "entropy-desc", "random", "depth"],
                   choices=ORDERS)
    p.add_argument("--samples", type=int, default=64, help="calibration prompts")
    p.add_argument("--alpha", type=float, default=0.5, help="calibration mix")
    p.add_argument("--estimator", default="kmeans", choices=ESTIMATORS)
    p.add_argument("--out", required=True, help="JSON file to write")
    p.set_defaults(func=commands.cmd_sweep)

    p = sub.add_parser("export", help="write a plan in a deployable format")
    p.add_argument("--plan", required=True, help="BitPlan JSON written by `plan`")
    p.add_argument("--format", required=True, choices=list(FORMATS),
                   help="; ".join(f"{k}: {v[1]}" for k, v in FORMATS.items()))
    p.add_argument("--model", help="for model formats; defaults to the plan's model")
    p.add_argument("--out", required=True, help="file (plan formats) or folder to write")
    p.add_argument("--ultra-low", choices=ULTRA_LOW_TYPES,
                   help="gguf: the ggml type of ultra-low blocks (default: the mapping table)")
    _add_calibration_arg(p)
    p.add_argument("--samples", type=int, default=64,
                   help="gguf: calibration prompts for the importance matrix (default 64)")
    p.set_defaults(func=commands.cmd_export)
    return parser


def _add_device_args(parser: argparse.ArgumentParser) -> None:
    """``--memory-gb`` and ``--image-detail`` on every command that loads a model."""
    for name, p in parser._subparsers._group_actions[0].choices.items():
        if name in ("memory", "score"):
            continue
        p.add_argument("--memory-gb", type=float, default=None,
                       help="keep what the process holds on its device (GPU memory, or RSS on "
                            "the CPU) under this many GB (default: LUQ_MEMORY_GB, else the "
                            "free memory less 10 %%)")
        p.add_argument("--image-detail", choices=IMAGE_DETAILS, default=None,
                       help="image tokens per picture: the model's own processor (model) or "
                            "one tile (default on the CPU: one-tile; on a GPU: model)")


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; prints JSON, or a one-line error on stderr with exit code 2."""
    parser = build_parser()
    _add_device_args(parser)
    args = parser.parse_args(argv)
    try:
        limit = None
        if hasattr(args, "memory_gb"):
            from luq.memlimit import parse_gb, resolve_limit
            from luq.models.loading import default_device

            gb = parse_gb(args.memory_gb, "--memory-gb") if args.memory_gb is not None else None
            limit = resolve_limit(default_device(), gb)
        from luq.memlimit import limited

        with limited(limit) if limit is not None else nullcontext():
            result = args.func(args)
    except (ValueError, RuntimeError, OSError, ImportError, MemoryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0
