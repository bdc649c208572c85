"""``--harness lmms-eval`` against lmms-eval's own task code, metric by metric.

    pip download lmms-eval==0.7.3 --no-deps -d /tmp/lmms && unzip -q /tmp/lmms/*.whl -d /tmp/lmms
    python -m benchmarks.harness_parity --lmms-eval /tmp/lmms

Runs lmms-eval's ``process_results`` and aggregation functions (loaded from the unpacked wheel,
never imported into ``luq``) on the stress fixtures of ``tests/tasks/stress.py``, with the
harness's own stripping of replies (``ConfigurableTask.process_results``), and sets each metric
beside ``score --harness lmms-eval`` and ``--harness official``. Writes
``benchmarks/results/harness_parity.json``; the tests hold the values it printed.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib.util
import re
import string
import sys
import types
from pathlib import Path

import numpy as np

from benchmarks.common import print_table, write_result
from luq.tasks import score_predictions
from tests.tasks.stress import CASES


def _load(root: Path, dotted: str):
    """One lmms-eval module from its file, with stand-ins for what scoring never uses."""
    if "loguru" not in sys.modules:
        loguru = types.ModuleType("loguru")
        loguru.logger = types.SimpleNamespace(info=lambda *a, **k: None,
                                              warning=lambda *a, **k: None)
        sys.modules["loguru"] = loguru
    parts = dotted.split(".")
    for i in range(1, len(parts)):  # packages without running their __init__
        name = ".".join(parts[:i])
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(root.joinpath(*parts[:i]))]
            sys.modules[name] = package
    files = "lmms_eval.tasks._task_utils.file_utils"
    if files not in sys.modules:
        stub = types.ModuleType(files)
        stub.generate_submission_file = lambda name, args=None, subpath=None: f"/dev/null/{name}"
        sys.modules[files] = stub
    spec = importlib.util.spec_from_file_location(dotted, root.joinpath(*parts).with_suffix(".py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[dotted] = module
    spec.loader.exec_module(module)
    return module


def _metric_functions(root: Path) -> dict:
    """``exact_match_hf_evaluate`` and ``anls`` from ``api/metrics.py`` (whose imports need
    sacrebleu and evaluate): their source, run without its decorators."""
    tree = ast.parse((root / "lmms_eval" / "api" / "metrics.py").read_text())
    wanted = {"exact_match_hf_evaluate", "anls", "levenshtein_distance"}
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    for node in nodes:
        node.decorator_list = []
    namespace = {"np": np, "re": re, "string": string}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), "metrics.py", "exec"), namespace)
    return namespace


def lmms_eval_metrics(root: Path) -> dict[str, dict[str, float]]:
    """Every stress task's metrics by lmms-eval's own code."""
    tasks = "lmms_eval.tasks"
    mme = _load(root, f"{tasks}.mme.utils")
    pope = _load(root, f"{tasks}.pope.utils")
    textvqa = _load(root, f"{tasks}.textvqa.utils")
    vqav2 = _load(root, f"{tasks}.vqav2.utils")
    sqa = _load(root, f"{tasks}.scienceqa.utils")
    chartqa = _load(root, f"{tasks}.chartqa.utils")
    mmbench = _load(root, f"{tasks}.mmbench.mmbench_evals")
    metrics = _metric_functions(root)
    mean = lambda xs: float(sum(xs) / len(xs))  # noqa: E731 (lmms-eval's "mean")
    out = {}

    def stripped(name: str) -> list:  # ConfigurableTask.process_results
        docs, replies = CASES[name]
        return [(copy.deepcopy(d), r.strip()) for d, r in zip(docs, replies)]

    rows = [mme.mme_process_results(d, [r]) for d, r in stripped("mme")]
    out["mme"] = {key: mme.mme_aggregate_results([x[f"mme_{key}_score"] for x in rows
                                                  if f"mme_{key}_score" in x])
                  for key in ("perception", "cognition")}
    rows = [pope.pope_process_results(d, [r]) for d, r in stripped("pope")]
    out["pope"] = {key: getattr(pope, f"pope_aggregate_{fn}")([x[f"pope_{fn}"] for x in rows])
                   for key, fn in (("accuracy", "accuracy"), ("precision", "precision"),
                                   ("recall", "recall"), ("f1", "f1_score"),
                                   ("yes_ratio", "yes_ratio"))}
    out["textvqa_val"] = {"accuracy": mean([textvqa.textvqa_process_results(d, [r])["exact_match"]
                                            for d, r in stripped("textvqa_val")])}
    out["vqav2_val"] = {"accuracy": mean([vqav2.vqav2_process_results_val(d, [r])["exact_match"]
                                          for d, r in stripped("vqav2_val")])}
    out["gqa"] = {"accuracy": mean([metrics["exact_match_hf_evaluate"](
        predictions=[r], references=[d["answer"]], ignore_case=True,
        ignore_punctuation=True)["exact_match"] for d, r in stripped("gqa")])}
    out["scienceqa_img"] = {"accuracy": mean([sqa.sqa_process_results(d, [r])["exact_match"]
                                              for d, r in stripped("scienceqa_img")])}
    rows = [chartqa.chartqa_process_results(d, [r]) for d, r in stripped("chartqa")]
    out["chartqa"] = {key: mean([x[name] for x in rows if name in x])
                      for key, name in (("relaxed_accuracy", "relaxed_overall"),
                                        ("per_type.human_test", "relaxed_human_split"),
                                        ("per_type.augmented_test", "relaxed_augmented_split"))}
    out["docvqa_val"] = {"anls": mean([metrics["anls"](references=d["answers"],
                                                       predictions=[r])["anls"]
                                       for d, r in stripped("docvqa_val")])}
    results = []
    for doc, reply in stripped("mmbench_en_dev"):  # mmbench_process_results' record
        record = {k: doc[k] for k in ("index", "question", "answer", "hint", "source", "split",
                                      "category", "L2-category")}
        record.update(prediction=reply, **{c: doc.get(c, "nan") for c in "ABCDE"})
        results.append(record)
    evaluator = mmbench.MMBench_Evaluator(sys_prompt="There are several options:")
    overall, categories, _ = evaluator.eval_result(results, eval_method="static")
    out["mmbench_en_dev"] = {"accuracy": float(overall),
                             **{f"categories.{k}": float(v) for k, v in categories.items()}}
    return out


def _flat(metrics: dict, prefix: str = "") -> dict[str, float]:
    flat = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)):
            flat[f"{prefix}{key}"] = float(value)
    return flat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lmms-eval", required=True, type=Path,
                    help="an unpacked lmms-eval wheel (the folder holding lmms_eval/)")
    args = ap.parse_args()
    import warnings

    warnings.filterwarnings("ignore")  # pandas' chained-assignment notes in eval_result
    theirs = lmms_eval_metrics(args.lmms_eval)
    rows, worst = [], 0.0
    for task, metrics in theirs.items():
        docs, replies = CASES[task]
        ours = {h: _flat(score_predictions(task, docs, dict(enumerate(replies)), h))
                for h in ("lmms-eval", "official")}
        for metric, value in metrics.items():
            error = abs(ours["lmms-eval"][metric] - value)
            worst = max(worst, error)
            rows.append({"task": task, "metric": metric, "lmms-eval code": round(value, 6),
                         "luq lmms-eval": round(ours["lmms-eval"][metric], 6),
                         "luq official": round(ours["official"][metric], 6),
                         "error": error, "exact": repr(value)})
    print_table([{k: v for k, v in r.items() if k != "exact"} for r in rows])
    differ = sum(r["luq official"] != r["lmms-eval code"] for r in rows)
    summary = {"metrics": len(rows), "max_abs_error": worst,
               "official_differs_from_lmms_eval": differ, "lmms_eval_version": "0.7.3"}
    print(summary)
    write_result("harness_parity", {"summary": summary, "rows": rows})
    if worst > 1e-6:
        sys.exit(f"--harness lmms-eval is off lmms-eval's code by {worst}")


if __name__ == "__main__":
    main()
