"""Runs every benchmark in turn: ``python -m benchmarks [NAME ...]`` (offline; about 20
minutes for all).

Each script prints its own table and writes ``benchmarks/results/<name>.json``; this runner
adds each one's wall time and the total to ``benchmarks/results/all.json`` (names given:
only those run, and their rows replace the saved ones).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from benchmarks.common import RESULTS, print_table, write_result


def measured_rows() -> list[dict]:
    """The rows of the saved ``all.json`` (none if absent)."""
    path = RESULTS / "all.json"
    return json.loads(path.read_text()).get("scripts", []) if path.exists() else []


# Order matters: claims reads the trade-off curve's areas; gguf_speed's allocator plan reads
# this machine's decode-cost table. gguf_speed (about 15 min) runs on its own:
# python -m benchmarks.gguf_speed.
SCRIPTS = ("embedded_quality", "embedded_styles", "embedded_gguf", "ultra_low_types",
           "tradeoff", "claims", "quant_speed", "ggml_speed", "decode_costs", "plan_switch",
           "app_latency", "app_load", "scale")


def main() -> None:
    names = sys.argv[1:] or list(SCRIPTS)
    unknown = sorted(set(names) - set(SCRIPTS) - {"gguf_speed"})
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(SCRIPTS)}")
    rows = []
    start = time.perf_counter()
    for name in names:
        print(f"== benchmarks.{name}", flush=True)
        began = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}"])
        rows.append({"script": name, "exit": code,
                     "minutes": round((time.perf_counter() - began) / 60, 2)})
    total = round((time.perf_counter() - start) / 60, 2)
    print_table(rows)
    print(f"total {total} min")
    if sys.argv[1:]:  # keep the saved rows of the scripts not run now
        saved = measured_rows()
        rows = [*(r for r in saved if r["script"] not in names), *rows]
        total = round(sum(r["minutes"] for r in rows), 2)
    write_result("all", {"scripts": rows, "total_minutes": total})
    if any(r["exit"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
