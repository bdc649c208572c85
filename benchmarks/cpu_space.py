"""SmolVLM-256M on a 2-core CPU, as a CPU Space holds it: the CLI and the app, timed.

    python -m benchmarks.cpu_space [--questions 10]

A random-weight SmolVLM-256M at its real shape is saved as a ``save_pretrained`` folder with
SmolVLM's own image-processor settings (``luq.models.shaped.save_shaped``; longest edge 2048
in 512 tiles), in a data folder the app may read (``LUQ_DATA_DIRS``), with an empty profile
cache (``LUQ_CACHE_DIR``). Then, each from a cold start:

1. ``python -m luq eval --model FOLDER --task shapes --n 10``: wall seconds, load included
   (target 45 s).
2. The app (``python app.py`` in a process of its own on 127.0.0.1), driven through
   ``gradio_client`` as a visitor: load the folder in the model picker; the first slider move
   (``/budget_range`` then ``/plan`` at the app's defaults and default budget, as the page
   chains them after a switch: profile, statistics, every block's variant at the default
   pair, then the plan's 100-question accuracy; target 90 s), timed to its first reply (the
   plan shown) and its last (with the accuracy), and a second move to a new plan;
   then arena questions (``/answer``, three PyTorch answers; target 5 s each, the first and
   the median of the rest reported).

The CPU default image detail (one tile, 64 image tokens instead of 1088) is what the app and
CLI use; the run states it. Writes ``benchmarks/results/cpu_space.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.app_load import _port, _rss_bytes, _start_server
from benchmarks.common import print_table, write_result

MODEL = "smolvlm-256m"
QUESTION = "what color is the shape ?"
TARGETS = {"cli_eval_s": 45, "first_slider_move_s": 90,
           "first_slider_move_with_accuracy_s": 90, "arena_s": 5}


def _move(client, budget: float, low: str, high: str) -> tuple[float, float, dict]:
    """A slider move: seconds until its plan is shown (the first reply), seconds until its
    accuracy is (the last), and the plan."""
    start, shown = time.perf_counter(), None
    job = client.submit(budget, low, high, "entropy", False, "budget", 0.9, "shapes", "",
                        100, api_name="/plan")
    while not job.done():
        if shown is None and job.outputs():
            shown = time.perf_counter() - start
        time.sleep(0.05)
    final = job.result()
    total = time.perf_counter() - start
    return (total if shown is None else shown), total, final[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--questions", type=int, default=10, help="questions of the CLI eval")
    ap.add_argument("--answers", type=int, default=4, help="arena questions asked in the app")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    from luq.defaults import HIGH, LOW
    from luq.models.registry import ASSETS
    from luq.models.shaped import save_shaped

    root = Path(tempfile.mkdtemp(prefix="luq-cpu-space-"))
    folder = root / "data" / "smolvlm-256m-random"
    start = time.perf_counter()
    save_shaped(MODEL, folder)
    save_s = time.perf_counter() - start
    env = {**os.environ, "LUQ_DATA_DIRS": str(root / "data"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

    env["LUQ_CACHE_DIR"] = str(root / "cache-cli")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "luq", "eval", "--model", str(folder),
                           "--task", "shapes", "--n", str(args.questions)], env=env,
                          capture_output=True, text=True, check=True)
    cli_s = time.perf_counter() - start
    print(f"CLI eval {cli_s:.1f} s", flush=True)

    from gradio_client import Client, handle_file

    env["LUQ_CACHE_DIR"] = str(root / "cache-app")
    os.environ.update(env)  # the server process inherits the data folder and empty cache
    port = _port()
    server = _start_server(port)
    try:
        client = Client(f"http://127.0.0.1:{port}", verbose=False, download_files=False)
        start = time.perf_counter()
        client.predict(str(folder), "embedded", api_name="/load_model")
        load_s = time.perf_counter() - start
        start = time.perf_counter()  # what the page chains after a switch: range, then plan
        limits = client.predict(LOW.type, HIGH.type, "F16", api_name="/budget_range")
        budget, range_s = limits["value"], time.perf_counter() - start
        shown_s, move_s, plan = _move(client, budget, LOW.type, HIGH.type)
        shown_s, move_s = shown_s + range_s, move_s + range_s  # the range's call included
        print(f"first slider move: plan shown {shown_s:.1f} s, accuracy {move_s:.1f} s",
              flush=True)
        second_shown_s, second_move_s, _ = _move(client, (limits["minimum"] + budget) / 2,
                                                 LOW.type, HIGH.type)
        print(f"second move: {second_shown_s:.1f} / {second_move_s:.1f} s", flush=True)
        image = handle_file(str(sorted((ASSETS / "examples").glob("*.png"))[0]))
        answers = []
        for _ in range(args.answers):
            start = time.perf_counter()
            client.predict(image, QUESTION, budget, LOW.type, HIGH.type, "entropy", False,
                           api_name="/answer")
            answers.append(time.perf_counter() - start)
            print(f"arena {answers[-1]:.2f} s", flush=True)
        server_rss = _rss_bytes(server.pid)
    finally:
        server.kill()
        server.wait()
    rows = [{"step": "save the random-weight folder", "seconds": round(save_s, 1)},
            {"step": f"CLI eval, {args.questions} shapes questions, load included",
             "seconds": round(cli_s, 1)},
            {"step": "app: load the folder in the picker", "seconds": round(load_s, 1)},
            {"step": "app: first slider move, plan shown", "seconds": round(shown_s, 1)},
            {"step": "app: first slider move, with its accuracy (100 questions)",
             "seconds": round(move_s, 1)},
            {"step": "app: second slider move (a new plan), plan shown",
             "seconds": round(second_shown_s, 2)},
            {"step": "app: second slider move, with its accuracy",
             "seconds": round(second_move_s, 1)},
            {"step": "app: first arena question (3 PyTorch answers)",
             "seconds": round(answers[0], 2)},
            {"step": "app: later arena questions, median",
             "seconds": round(statistics.median(answers[1:] or answers), 2)}]
    print_table(rows)
    checks = {"cli_eval_s": round(cli_s, 1), "first_slider_move_s": round(shown_s, 1),
              "first_slider_move_with_accuracy_s": round(move_s, 1),
              "arena_s": round(max(answers), 2)}
    result = {"model": MODEL, "weights": "random, real shape", "image_detail": "one-tile (CPU "
              "default: 64 image tokens a picture)", "high": HIGH.label, "low": LOW.label,
              "budget_mb": budget, "plan_ultra_low": plan.get("n_low"), "rows": rows,
              "cli_last_line": done.stdout.strip().splitlines()[-1:],
              "server_rss_gb": round(server_rss / 1e9, 2), "checks": checks,
              "targets": TARGETS, "met": {k: v <= TARGETS[k] for k, v in checks.items()}}
    print(result["checks"], result["met"])
    if not args.no_write:
        print(f"wrote {write_result('cpu_space', result)}")


if __name__ == "__main__":
    main()
