"""Command line: ``python -m luq {memory,profile,plan,eval,sweep} ...``; JSON on stdout."""

from __future__ import annotations

import argparse
import json
import sys

from luq.quant.registry import method_names


def _add_spec_args(p: argparse.ArgumentParser, prefix: str, method: str, bits: int,
                   group_size: int, what: str) -> None:
    dash = f"{prefix}-" if prefix else ""
    p.add_argument(f"--{dash}method", default=method, choices=method_names(),
                   help=f"{what} quantization method (default {method})")
    p.add_argument(f"--{dash}bits", type=int, default=bits, help=f"{what} bits (default {bits})")
    p.add_argument(f"--{dash}group-size", type=int, default=group_size,
                   help=f"{what} group size, 0 = per-channel (default {group_size})")


def _spec(args: argparse.Namespace, prefix: str = ""):
    from luq.quant.spec import QuantSpec

    key = f"{prefix}_" if prefix else ""
    return QuantSpec(getattr(args, f"{key}method"), getattr(args, f"{key}bits"),
                     getattr(args, f"{key}group_size"))


def cmd_memory(args: argparse.Namespace) -> dict:
    from luq.memory import model_layout, plan_memory
    from luq.models.loading import build_meta_model
    from luq.plan import BitPlan

    layout = model_layout(build_meta_model(args.model))
    if args.plan:
        plan = BitPlan.load(args.plan)
    else:
        plan = BitPlan.uniform(layout.block_names, _spec(args))
    report = plan_memory(layout, plan).to_dict()
    return {"model": args.model, "plan": plan.order, "layers": len(layout.blocks), **report}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m luq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("memory", help="weight memory of a model under a plan, from its config "
                       "alone (no weights loaded)")
    p.add_argument("--model", required=True, help="registry name, local folder or hub id")
    _add_spec_args(p, "", "rtn", 4, 64, "uniform")
    p.add_argument("--plan", help="a BitPlan JSON file instead of a uniform setting")
    p.set_defaults(func=cmd_memory)
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
