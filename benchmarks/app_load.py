"""The app under load and under attack, on 127.0.0.1: what a public Space's visitors see.

    python -m benchmarks.app_load [--clients 16] [--seconds 60]

Starts the app in a process of its own on a free local port of 127.0.0.1 (nothing leaves
this machine; the clients run in this process, as visitors would elsewhere), then:

1. **Hostile configs**: the 10-million-layer ``config.json`` (94 bytes) sent to What fits:
   the reply's latency and the server's RSS growth, then one normal request.
2. **Load**: ``--clients`` gradio_client users for ``--seconds``, each with its own order
   (entropy, sensitivity, random, depth) and budget; every other one has the llama.cpp card
   on (``/answer`` then ``/answer_llamacpp``, whose first call for a plan exports its GGUF in
   the export queue). Every user's page (``Client``) is open before the clock starts, then
   all start at once. Each user loops slider move (``/plan``) -> arena (``/answer``); every
   reply is checked against that plan computed alone afterwards. Reports per kind of
   request the median, p95 and max latency, the errors and the wrong replies. The users'
   clients do not download a reply's files (``download_files=False``): a browser fetches a
   ``gr.File`` only when its link is clicked, and gradio_client's eager download of the
   three plan files costs 77 ms of CPU per slider move on the 2 cores the server runs on.

Cold (default): an empty profile cache, so the probe, the profile, each plan's accuracy and
each GGUF export happen during the minute (``app_load.json``). ``--warm``: each user's plan
asked once first (``app_load_warm.json``).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import print_table, write_result

ORDERS = ("entropy", "sensitivity", "random", "depth")
QUESTION = "how many objects are there ?"
HUGE = {"model_type": "llava", "text_config": {"model_type": "llama",
                                               "num_hidden_layers": 10_000_000}}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _rss_bytes(pid: int) -> int:
    """The server process's resident memory (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _serve(port: int) -> None:
    """The app, as ``python app.py`` serves it, on 127.0.0.1:``port`` until killed."""
    from app import CONCURRENCY, MAX_FILE_SIZE, demo

    demo.queue(default_concurrency_limit=CONCURRENCY).launch(
        server_name="127.0.0.1", server_port=port, quiet=True, max_file_size=MAX_FILE_SIZE)


def _start_server(port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.app_load", "--serve",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if server.poll() is not None:
                raise RuntimeError("the app did not start") from None
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("the app did not start within 300 s")


def _hostile(client, pid: int) -> dict:
    from gradio_client import handle_file

    folder = Path(tempfile.mkdtemp(prefix="luq-hostile-"))
    path = folder / "config.json"
    path.write_text(json.dumps(HUGE))
    before = _rss_bytes(pid)
    start = time.perf_counter()
    try:
        client.predict("upload", "llava-hf/llava-1.5-7b-hf", "", handle_file(str(path)), 3.5,
                       "billm", "rtn4", "auto", api_name="/what_fits")
        reply = "(answered)"
    except Exception as err:  # noqa: BLE001 - the refusal is the expected reply
        reply = str(err)
    seconds = time.perf_counter() - start
    return {"config_bytes": path.stat().st_size, "reply": reply,
            "seconds": round(seconds, 3),
            "rss_growth_mb": round((_rss_bytes(pid) - before) / 1e6, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the server process
    ap.add_argument("--warm", action="store_true",
                    help="ask each user's plan once (in turn) before the timed minute, so it "
                         "measures a warm app; the warm-up's seconds are reported")
    args = ap.parse_args()
    if args.serve:
        return _serve(args.serve)

    from gradio_client import Client, handle_file

    from luq.defaults import HIGH, LOW  # the app's defaults: their choices are the type names
    from luq.memory import model_layout
    from luq.models.loading import build_meta_model
    from luq.models.registry import ASSETS
    from luq.select import budget_range

    port = _port()
    server = _start_server(port)
    url = f"http://127.0.0.1:{port}/"
    try:
        reference = Client(url, verbose=False)
        hostile = _hostile(reference, server.pid)
        lo, hi = budget_range(model_layout(build_meta_model("embedded")), HIGH, LOW)
        image = handle_file(str(sorted((ASSETS / "examples").glob("*.png"))[0]))
        users = [(ORDERS[i % len(ORDERS)], round((lo + (0.05 + 0.9 * i / args.clients)
                                                  * (hi - lo)) / 1e6, 4), i % 2 == 1)
                 for i in range(args.clients)]

        def plan(client, order, budget):
            return client.predict(budget, LOW.type, HIGH.type, order, False, "budget", 0.9,
                                  "shapes", "", 100, api_name="/plan")[-1]

        def answer(client, order, budget, engine, name="/answer"):
            return client.predict(image, QUESTION, budget, LOW.type, HIGH.type, order, engine,
                                  api_name=name)

        warm_up = time.perf_counter()
        for order, budget, engine in users if args.warm else ():
            plan(reference, order, budget)
            answer(reference, order, budget, engine, "/answer_llamacpp" if engine else "/answer")
        warm_up = round(time.perf_counter() - warm_up, 1) if args.warm else None
        # every visitor's page is open before the clock starts: a page load (Gradio's config
        # and API info, hundreds of kB each) is not a slider move
        ready, go, clock = threading.Barrier(args.clients + 1), threading.Event(), {}

        def user(config):
            order, budget, engine = config
            client = Client(url, verbose=False, download_files=False)  # as a browser
            ready.wait(timeout=300)
            go.wait()
            deadline, began = clock["deadline"], clock["began"]
            times = {"slider": [], "arena": [], "llama.cpp card": []}
            errors, replies = [], set()
            while time.monotonic() < deadline:
                try:
                    start = time.perf_counter()
                    p = plan(client, order, budget)
                    times["slider"].append(time.perf_counter() - start)
                    slow.append((round(start - began, 1), round(times["slider"][-1], 2)))
                    start = time.perf_counter()
                    cards = answer(client, order, budget, engine)[1:5]
                    times["arena"].append(time.perf_counter() - start)
                    if engine:
                        start = time.perf_counter()
                        answer(client, order, budget, True, "/answer_llamacpp")
                        times["llama.cpp card"].append(time.perf_counter() - start)
                except Exception as err:  # noqa: BLE001 - counted and reported
                    errors.append(str(err)[:200])
                    continue
                replies.add(((p["n_low"], p["memory_bytes"], p["accuracy"]),
                             tuple(c.splitlines()[1] for c in cards[:3])))
            return times, errors, replies

        slow: list = []  # (start offset, seconds) of each slider move
        with cf.ThreadPoolExecutor(max_workers=args.clients) as pool:
            futures = [pool.submit(user, config) for config in users]
            ready.wait(timeout=300)
            clock.update(deadline=time.monotonic() + args.seconds, began=time.perf_counter())
            go.set()
            results = [f.result() for f in futures]
        # afterwards, each plan alone: the probe and the exports ran during the load above
        wrong = []
        for config, (_, _, replies) in zip(users, results):
            order, budget, _ = config
            p = plan(reference, order, budget)
            cards = answer(reference, order, budget, False)[1:4]
            alone = ((p["n_low"], p["memory_bytes"], p["accuracy"]),
                     tuple(c.splitlines()[1] for c in cards))
            wrong += [f"{config}: {r}" for r in replies if r != alone]
    finally:
        server.terminate()
        server.wait(timeout=60)
    rows = []
    for kind in ("slider", "arena", "llama.cpp card"):
        values = [t for times, _, _ in results for t in times[kind]]
        if values:
            rows.append({"request": kind, "calls": len(values),
                         "median s": round(statistics.median(values), 2),
                         "p95 s": round(_p95(values), 2), "max s": round(max(values), 2)})
    errors = [e for _, errs, _ in results for e in errs]
    print_table(rows)
    print(f"errors {len(errors)}, wrong replies {len(wrong)}; "
          f"10M-layer config: {hostile['seconds']} s, RSS +{hostile['rss_growth_mb']} MB")
    path = write_result("app_load_warm" if args.warm else "app_load", {
        "clients": args.clients, "seconds": args.seconds, "warm_up_seconds": warm_up,
        "orders": list(ORDERS),
        "llamacpp_half": True, "rows": rows, "errors": len(errors), "error_samples": errors[:5],
        "wrong_replies": len(wrong), "wrong_samples": wrong[:5],
        "slowest_slider_moves": sorted(slow, key=lambda x: -x[1])[:10],
        "hostile_config": hostile})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
