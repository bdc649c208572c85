"""Command line: ``python -m luq {memory,profile,plan,eval,sweep} ...``; JSON on stdout."""

from __future__ import annotations

import argparse
import json
import sys

from luq.defaults import HIGH, LOW
from luq.quant.registry import method_names
from luq.quant.spec import FULL_PRECISION, QuantSpec


def _add_spec_args(p: argparse.ArgumentParser, prefix: str, default: QuantSpec,
                   what: str) -> None:
    method, bits, group_size = default.method, default.bits, default.group_size
    dash = f"{prefix}-" if prefix else ""
    p.add_argument(f"--{dash}method", default=method, choices=method_names(),
                   help=f"{what} quantization method (default {method})")
    p.add_argument(f"--{dash}bits", type=int, default=bits, help=f"{what} bits (default {bits})")
    p.add_argument(f"--{dash}group-size", type=int, default=group_size,
                   help=f"{what} group size, 0 = per-channel (default {group_size})")
    p.add_argument(f"--{dash}split", action=argparse.BooleanOptionalAction,
                   default=default.split,
                   help=f"{what}: billm split scales (a membership bit per weight; default "
                        f"{'on' if default.split else 'off'})")


def _spec(args: argparse.Namespace, prefix: str = ""):
    key = f"{prefix}_" if prefix else ""
    return QuantSpec(getattr(args, f"{key}method"), getattr(args, f"{key}bits"),
                     getattr(args, f"{key}group_size"), split=getattr(args, f"{key}split"))


def cmd_memory(args: argparse.Namespace) -> dict:
    from luq.memory import model_layout, plan_memory
    from luq.models.loading import build_meta_model
    from luq.plan import BitPlan

    layout = model_layout(build_meta_model(args.model))
    if args.budget_mb is not None:
        return _memory_budget(args, layout)
    if args.plan:
        plan = BitPlan.load(args.plan)
    else:
        plan = BitPlan.uniform(layout.block_names, _spec(args))
    report = plan_memory(layout, plan, _parts(args.embed_bits)).to_dict()
    return {"model": args.model, "plan": plan.order, "layers": len(layout.blocks), **report}


AUTO_EMBED_BITS = 4


def _parts(embed_bits: int | None) -> dict | None:
    """Embeddings and lm_head stored with RTN at ``embed_bits`` (None or 0: fp16)."""
    if not embed_bits:
        return None
    spec = QuantSpec("rtn", embed_bits, 64)  # 64 divides every supported hidden size
    return {"embeddings": spec, "lm_head": spec}


def _memory_budget(args: argparse.Namespace, layout) -> dict:
    """How many blocks must go ultra-low to fit the budget (blocks of a model are the same
    size, so the count does not depend on which; which ones needs a profile)."""
    from luq.select import greedy_select

    high, low = _spec(args), _spec(args, "low")
    budget = int(args.budget_mb * 1e6)
    embeddings = f"{args.embed_bits}-bit RTN" if args.embed_bits else "fp16"
    try:
        sel = greedy_select(layout, layout.block_names, high, low, budget,
                            order_name="depth", model=args.model, parts=_parts(args.embed_bits))
    except ValueError:
        if args.embed_bits is not None:
            raise
        # Not even every block ultra-low fits with fp16 embeddings and lm_head: store them
        # at 4 bits, as llama.cpp's Q4_K_M does, and say so.
        sel = greedy_select(layout, layout.block_names, high, low, budget,
                            order_name="depth", model=args.model,
                            parts=_parts(AUTO_EMBED_BITS))
        embeddings = (f"{AUTO_EMBED_BITS}-bit RTN: the budget cannot be met with fp16 "
                      "embeddings and lm_head (pass --embed-bits 0 to keep them in fp16)")
    sizes = {b.linear_params for b in layout.blocks}
    return {"model": args.model, "budget_bytes": int(args.budget_mb * 1e6),
            "layers": len(layout.blocks), "n_low": sel.n_low, "high": high.label,
            "low": low.label, "embeddings_and_lm_head": embeddings, **sel.memory.to_dict(),
            "which_layers": "needs a profile: python -m luq profile --model ... then "
                            "python -m luq plan --profile ... --budget-mb ..."
                            + ("" if len(sizes) == 1 else " (blocks differ in size: the count "
                               "assumes depth order)"),
            "note": sel.note}


def _progress(done: int, total: int, message: str) -> None:
    print(f"\r[{done}/{total}] {message[:60]:<60}", end="" if done < total else "\n",
          file=sys.stderr)


def cmd_profile(args: argparse.Namespace) -> dict:
    from luq.calibration import CalibrationConfig
    from luq.models.loading import load_model
    from luq.pipeline import run_profile
    from luq.profile import EntropyConfig

    loaded = load_model(args.model)
    calib = CalibrationConfig(args.samples, args.alpha, args.seed)
    config = EntropyConfig(args.estimator, args.clusters, args.bins,
                           max_tokens=args.max_tokens, linears=args.linears, seed=args.seed)
    profile = run_profile(loaded, calib, config, progress=_progress,
                          use_cache=not args.no_cache)
    result = profile.to_dict()
    if args.sensitivity:
        from luq.pipeline import add_sensitivity

        result = add_sensitivity(loaded, result, calib, _low_spec(args), _high_spec(args),
                                 labelled=args.labelled, progress=_progress)
    _write(args.out, result)
    return {"out": args.out, "layers": len(result["layers"]), "seconds": result["seconds"]}


def _low_spec(args):
    return _spec(args, "low")


def _high_spec(args):
    return _spec(args, "high")


def cmd_plan(args: argparse.Namespace) -> dict:
    from luq.memory import model_layout
    from luq.models.loading import build_meta_model
    from luq.pipeline import select_plan
    from luq.profile import EntropyProfile

    profile = EntropyProfile.from_dict(json.loads(open(args.profile).read()))
    layout = model_layout(build_meta_model(args.model or profile.model))
    scores = None
    if args.order == "sensitivity":
        scores = profile.layer_values("sensitivity_kl")
        if scores is None:
            raise SystemExit("--order sensitivity needs a profile written with --sensitivity "
                             "(python -m luq profile ... --sensitivity --out F)")
    sel = select_plan(layout, profile, int(args.budget_mb * 1e6), _high_spec(args),
                      _low_spec(args), args.order, args.modality, scores, args.seed,
                      profile.model)
    out = sel.plan.to_dict()
    out.update(n_low=sel.n_low, memory=sel.memory.to_dict())
    _write(args.out, out)
    return {"out": args.out, "n_low": sel.n_low, "memory_bytes": sel.plan.memory_bytes,
            "avg_bits": sel.plan.avg_bits, "note": sel.note}


def _test_rows(n: int):
    from luq.embedded import load_split

    return load_split("test", n)


def cmd_eval(args: argparse.Namespace) -> dict:
    from luq.evaluation import evaluate
    from luq.memory import model_layout, plan_memory
    from luq.models.loading import load_model
    from luq.pipeline import evaluate_plan, variant_cache
    from luq.plan import BitPlan
    loaded = load_model(args.model)
    layout = model_layout(loaded.model, loaded.adapter)
    rows = _test_rows(args.n)
    if args.plan:
        plan = BitPlan.load(args.plan)
        result = evaluate_plan(loaded, variant_cache(loaded, plan.specs()), plan, rows)
    else:
        plan = BitPlan.uniform(layout.block_names, FULL_PRECISION)
        result = evaluate(loaded.model, loaded.processor, rows)
    report = plan_memory(layout, plan)
    return {"model": args.model, **result.to_dict(), "memory_bytes": report.total_bytes,
            "avg_bits": round(report.avg_bits, 4)}


def cmd_sweep(args: argparse.Namespace) -> dict:
    from luq.calibration import CalibrationConfig
    from luq.models.loading import load_model
    from luq.pipeline import run_profile, sweep
    from luq.profile import EntropyConfig

    loaded = load_model(args.model)
    calib = CalibrationConfig(args.samples, args.alpha)
    profile = run_profile(loaded, calib, EntropyConfig(args.estimator), progress=_progress)
    sensitivity = None
    orders = list(args.orders)
    if "sensitivity" in orders:
        from luq.pipeline import add_sensitivity

        sens = add_sensitivity(loaded, profile.to_dict(), calib, _low_spec(args),
                               _high_spec(args), progress=_progress)
        sensitivity = [layer["sensitivity_kl"] for layer in sens["layers"]]
    result = sweep(loaded, profile, _high_spec(args), _low_spec(args), _test_rows(args.n),
                   orders, args.random_seeds, sensitivity, calibration=calib,
                   progress=_progress)
    _write(args.out, result)
    return {"out": args.out, "points": len(result["points"]), "full": result["full"]}


def _write(path: str, data: dict) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=2)


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
    p.add_argument("--embed-bits", type=int, default=None,
                   help="also store embeddings and lm_head with RTN at these bits (group "
                        "64), as llama.cpp deployments do; 0 keeps them in fp16. Default: "
                        f"fp16, or {AUTO_EMBED_BITS} bits when a --budget-mb cannot be met "
                        "otherwise")
    p.set_defaults(func=cmd_memory)

    p = sub.add_parser("profile", help="per-layer activation entropy, image vs text tokens")
    p.add_argument("--model", default="embedded")
    p.add_argument("--samples", type=int, default=64, help="calibration prompts (default 64)")
    p.add_argument("--alpha", type=float, default=0.5,
                   help="share of image+question prompts; the rest are text-only (default 0.5)")
    p.add_argument("--estimator", default="kmeans", choices=["kmeans", "hist", "hist-clip"])
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
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("plan", help="greedy LUQ plan under a memory budget")
    p.add_argument("--profile", required=True, help="JSON written by `profile`")
    p.add_argument("--model", help="defaults to the profile's model")
    p.add_argument("--budget-mb", type=float, required=True, help="total weight memory, MB")
    _add_spec_args(p, "low", LOW, "ultra-low")
    _add_spec_args(p, "high", HIGH, "high")
    p.add_argument("--order", default="entropy",
                   choices=["entropy", "entropy-desc", "random", "depth", "sensitivity"])
    p.add_argument("--modality", default="all", choices=["all", "image", "text"],
                   help="which entropy orders the layers (default: all tokens)")
    p.add_argument("--seed", type=int, default=0, help="for --order random")
    p.add_argument("--out", required=True, help="BitPlan JSON file to write")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("eval", help="exact-match accuracy on the embedded test split")
    p.add_argument("--model", default="embedded")
    p.add_argument("--plan", help="BitPlan JSON to apply first (default: full precision)")
    p.add_argument("--n", type=int, default=200, help="test questions (default 200)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sweep", help="memory-vs-accuracy curve for every order")
    p.add_argument("--model", default="embedded")
    p.add_argument("--n", type=int, default=200, help="test questions per point (default 200)")
    _add_spec_args(p, "low", LOW, "ultra-low")
    _add_spec_args(p, "high", HIGH, "high")
    p.add_argument("--orders", nargs="+", default=["entropy", "entropy-desc", "random", "depth"],
                   choices=["entropy", "entropy-desc", "random", "depth", "sensitivity"])
    p.add_argument("--random-seeds", type=int, default=5)
    p.add_argument("--samples", type=int, default=64, help="calibration prompts")
    p.add_argument("--alpha", type=float, default=0.5, help="calibration mix")
    p.add_argument("--estimator", default="kmeans", choices=["kmeans", "hist", "hist-clip"])
    p.add_argument("--out", required=True, help="JSON file to write")
    p.set_defaults(func=cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; prints JSON, or a one-line error on stderr with exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except (ValueError, RuntimeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0
