"""What each ``python -m luq`` command does; ``luq.cli`` parses the arguments.

Every command returns a JSON-ready dict (printed by ``luq.cli.main``) and reports progress on
stderr. Model-running commands go through :class:`luq.session.Session`, like the app.
"""

from __future__ import annotations

import argparse
import json
import sys

from luq.defaults import uniform_baselines
from luq.quant.spec import QuantSpec


def spec(args: argparse.Namespace, prefix: str = "") -> QuantSpec:
    """The QuantSpec of ``--[prefix-]type`` (method ``ggml``: bits and block from the type) or
    of ``--[prefix-]method/bits/group-size/split`` (a research method; what is not given comes
    from the research pair of ``luq.defaults``); nothing given: the default setting."""
    key, dash = (f"{prefix}_", f"{prefix}-") if prefix else ("", "")
    given = {k: getattr(args, f"{key}{k}", None)
             for k in ("method", "type", "bits", "group_size", "split")}
    if all(v is None for v in given.values()):
        return getattr(args, f"{key}default_spec")
    method, qtype = given["method"], given["type"]
    if method == "ggml" or (method is None and qtype):
        if not qtype:
            raise ValueError(f"--{dash}method ggml needs --{dash}type (e.g. IQ1_M, Q4_K)")
        return QuantSpec.ggml(qtype)
    if qtype:
        raise ValueError(f"--{dash}type needs --{dash}method ggml (or no method)")
    research = getattr(args, f"{key}research_spec")
    method = method or research.method
    same = method == research.method
    pick = {k: given[k] if given[k] is not None else getattr(research, k)
            for k in ("bits", "group_size", "split")} if same else {
        k: given[k] for k in ("bits", "group_size", "split") if given[k] is not None}
    return QuantSpec(method, **pick)


def progress(done: int, total: int, message: str) -> None:
    print(f"\r[{done}/{total}] {message[:60]:<60}", end="" if done < total else "\n",
          file=sys.stderr)


def write(path: str | None, data: dict) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(data, f, indent=2)


def _layout(model: str):
    from luq.memory import model_layout
    from luq.models.loading import build_meta_model

    return model_layout(build_meta_model(model))


def _session(model: str, args: argparse.Namespace | None = None, evaluate: bool = False,
             calibrate: bool = True):
    """A session on ``model`` (``--image-detail``), calibrated on ``--calibration`` and, with
    ``evaluate``, measured on ``--task``; data is resolved before the model loads."""
    from luq.models.loading import load_model
    from luq.session import Session

    detail = getattr(args, "image_detail", None)
    if args is None or not calibrate:
        return Session(load_model(model, image_detail=detail))
    source = _calibration(args, model)
    evaluation = _evaluation(args, model) if evaluate else None
    return Session(load_model(model, image_detail=detail), evaluation, source=source)


def default_task(model: str) -> str:
    """The embedded model answers shapes; a hub model is scored on real data."""
    from luq.models.registry import EMBEDDED_NAME

    return "shapes" if model == EMBEDDED_NAME else "textvqa_val"


def _evaluation(args: argparse.Namespace, model: str):
    from luq.tasks.evaluation import evaluation_for

    task = getattr(args, "task", None) or default_task(model)
    return evaluation_for(task, getattr(args, "data", None) or None, args.n or None,
                          getattr(args, "harness", "official"))


def _calibration(args: argparse.Namespace, model: str):
    """``--calibration``: a task name or a data path / hub id (TextVQA train for hub models,
    the shapes calibration split for the embedded one)."""
    from luq.models.registry import EMBEDDED_NAME
    from luq.tasks import calibration_source, task_names

    source = getattr(args, "calibration", None)
    if source is None and model != EMBEDDED_NAME:
        return calibration_source("textvqa_val", args.samples, split="train")
    if source is None:
        return calibration_source()
    if source in task_names():
        return calibration_source(source, args.samples)
    return calibration_source(None, args.samples, data=source)


def cmd_memory(args: argparse.Namespace) -> dict:
    from luq.estimate import embed_parts, what_fits
    from luq.memory import plan_memory
    from luq.plan import BitPlan
    from luq.tower import tower_parts, tower_spec

    layout = _layout(args.model)
    if args.budget_mb is not None:
        scores = None
        if args.profile:
            from luq.profile import EntropyProfile

            scores = EntropyProfile.from_dict(json.loads(open(args.profile).read())).values()
        result = what_fits(layout, int(args.budget_mb * 1e6), spec(args), spec(args, "low"),
                           args.embed_bits, scores, model=args.model,
                           tower=tower_spec(args.tower))
        if not result["fits"]:
            raise ValueError(f"{args.budget_mb} MB {result['note']}")
        return result
    plan = BitPlan.load(args.plan) if args.plan else BitPlan.uniform(layout.block_names,
                                                                      spec(args))
    parts = {**(embed_parts(args.embed_bits) or {}), **tower_parts(tower_spec(args.tower))}
    report = plan_memory(layout, plan, parts).to_dict()
    return {"model": args.model, "plan": plan.order, "layers": len(layout.blocks), **report}


def cmd_profile(args: argparse.Namespace) -> dict:
    from luq.calibration import CalibrationConfig
    from luq.profile import EntropyConfig

    session = _session(args.model, args)
    calib = CalibrationConfig(args.samples, args.alpha, args.seed)
    config = EntropyConfig(args.estimator, args.clusters, args.bins,
                           max_tokens=args.max_tokens, linears=args.linears, seed=args.seed)
    result = session.profile(calib, config, progress).to_dict()
    if args.sensitivity:
        result = session.sensitivity(spec(args, "low"), spec(args, "high"), calib,
                                     progress=progress, profile=result, labelled=args.labelled)
    write(args.out, result)
    return {"out": args.out, "layers": len(result["layers"]), "seconds": result["seconds"]}


def cmd_plan(args: argparse.Namespace) -> dict:
    from luq.profile import EntropyProfile
    from luq.select import greedy_select, layer_order
    from luq.speed import plan_speed

    profile = EntropyProfile.from_dict(json.loads(open(args.profile).read()))
    model = args.model or profile.model
    high, low = spec(args, "high"), spec(args, "low")
    scores = profile.values(args.modality) if args.order.startswith("entropy") else None
    if args.order == "sensitivity":
        scores = profile.layer_values("sensitivity_kl")
        if scores is None:
            raise ValueError("--order sensitivity needs a profile written with --sensitivity "
                             "(python -m luq profile ... --sensitivity --out F)")
    budget = int(args.budget_mb * 1e6) if args.budget_mb is not None else None
    if args.min_accuracy is None and budget is None:
        raise ValueError("give --budget-mb, --min-accuracy, or both")
    if args.order == "allocate":  # measured damage at every candidate: loads the model
        from luq.damage import allocate_selection

        types = [QuantSpec.ggml(t) for t in args.types] if args.types else None
        sel = allocate_selection(_session(model, args, evaluate=args.min_accuracy is not None),
                                 high, low, budget, args.min_accuracy, types,
                                 progress=progress, min_speed=args.min_speed)
    elif args.min_speed is not None:
        raise ValueError("--min-speed applies to --order allocate")
    elif args.min_accuracy is not None:
        session = _session(model, args, evaluate=True)
        layout, evaluate = session.layout, session.accuracy
    else:
        layout, evaluate = _layout(model), None
    if args.order != "allocate":
        ordered = layer_order(layout.block_names, args.order, scores, args.seed)
        sel = greedy_select(layout, ordered, high, low, budget, evaluate=evaluate,
                            min_accuracy=args.min_accuracy, order_name=args.order, model=model)
    out = sel.plan.to_dict()
    out.update(n_low=sel.n_low, memory=sel.memory.to_dict(), trace=list(sel.trace))
    write(args.out, out)
    return {"out": args.out, "n_low": sel.n_low, "memory_bytes": sel.plan.memory_bytes,
            "avg_bits": sel.plan.avg_bits, "note": sel.note, "predicted_speed":
            plan_speed(_layout(model), sel.plan),
            "accuracy": sel.trace[-1]["accuracy"] if sel.trace else None}


def cmd_eval(args: argparse.Namespace) -> dict:
    """The task's metrics (``--task``, default shapes / TextVQA) under ``--plan``, in PyTorch
    or (``--engine llamacpp``) in llama.cpp from the plan's GGUF."""
    from luq.plan import BitPlan
    from luq.tasks import load_docs, run_task, write_predictions

    plan = BitPlan.load(args.plan) if args.plan else None
    task = args.task or default_task(args.model)
    docs = load_docs(task, args.data, args.n or None)  # before the model: fail fast
    session = _session(args.model, args, calibrate=False)
    if getattr(args, "engine", "torch") == "llamacpp":
        from luq.deploy import eval_llamacpp

        result, engine_report = eval_llamacpp(session, plan, task, docs, args.gguf_dir,
                                              args.ultra_low, args.threads, args.batch_size,
                                              args.harness, progress)
    else:
        result = session.run(plan, lambda m: run_task(m.model, m.processor, task, docs,
                                                      args.batch_size, progress,
                                                      harness=args.harness))
        engine_report = {}
    predictions = result.pop("predictions")
    if args.predictions_out:
        write_predictions(args.predictions_out, {p["doc_id"]: p["prediction"]
                                                 for p in predictions})
    report = session.memory(plan)
    return {"model": args.model, "task": task, "data": args.data, **result,
            "memory_bytes": report.total_bytes, "avg_bits": round(report.avg_bits, 4),
            **(engine_report or session.resident(plan))}


def cmd_score(args: argparse.Namespace) -> dict:
    """Scores predictions made by any tool (JSONL of doc_id, prediction) by the task's rules."""
    from luq.tasks import load_docs, read_predictions, score_predictions

    docs = load_docs(args.task, args.data, args.limit)
    predictions = read_predictions(args.predictions)
    result = score_predictions(args.task, docs, predictions, args.harness,
                               per_doc=bool(args.per_doc))
    if args.per_doc:
        lines = result.pop("per_doc")
        with open(args.per_doc, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(line) + "\n" for line in lines)
        result["per_doc"] = {"out": args.per_doc, "documents": len(lines),
                             "scored_differently": sum(
                                 line["official"] != line["lmms-eval"] for line in lines)}
    return {"task": args.task, **result}


def cmd_sweep(args: argparse.Namespace) -> dict:
    from luq.calibration import CalibrationConfig

    session = _session(args.model, args, evaluate=True)
    calib = CalibrationConfig(args.samples, args.alpha)
    session.profile(calib, progress=progress)  # cached on disk for the orders
    uniform = uniform_baselines(spec(args, "high"))
    result = session.sweep(spec(args, "high"), spec(args, "low"), args.orders, uniform,
                           progress)
    write(args.out, result)
    return {"out": args.out, "points": sum(len(c) for c in result["curves"].values()),
            "full": result["full"]}


def cmd_export(args: argparse.Namespace) -> dict:
    from luq.export.formats import PLAN_FORMATS, check_format, export_plan
    from luq.plan import BitPlan

    fmt = check_format(args.format)
    plan = BitPlan.load(args.plan)
    if fmt in PLAN_FORMATS:
        path = export_plan(plan, fmt, args.out)
        return {"format": fmt, "out": str(path), "bytes": path.stat().st_size}
    session = _session(args.model or plan.model, args)
    if fmt == "gguf":
        return _export_gguf(session, plan, args)
    from luq.export import save_quantized

    out = session.run(plan, lambda m: save_quantized(m.model, plan, args.out, m.processor))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"format": fmt, "out": str(out), "bytes": size,
            "accounted_bytes": session.memory(plan).total_bytes}


def _export_gguf(session, plan, args: argparse.Namespace) -> dict:
    """The float model (ggml quantizes it), with an importance matrix from the session's
    calibration source."""
    from luq.deploy import example_question, session_imatrix
    from luq.export.gguf import export_gguf

    def export(loaded):
        imatrix = session_imatrix(session, plan, args.samples, progress)
        return export_gguf(loaded.model, plan, args.out, loaded.processor, imatrix=imatrix,
                           ultra_low=args.ultra_low, question=example_question(session.name),
                           progress=progress)

    result = session.run(None, export).to_dict()
    return {"format": "gguf", **result, "accounted_bytes": session.memory(plan).total_bytes}
