"""Runs every benchmark in turn: ``python -m benchmarks`` (offline; about 20 minutes).

Each script prints its own table and writes ``benchmarks/results/<name>.json``; this runner
adds each one's wall time and the total to ``benchmarks/results/all.json``.
"""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.common import print_table, write_result

# Order matters: claims reads the trade-off curve's areas. gguf_speed (about 25 min) runs
# on its own: python -m benchmarks.gguf_speed.
SCRIPTS = ("embedded_quality", "embedded_styles", "embedded_gguf", "tradeoff", "claims",
           "quant_speed", "plan_switch", "app_latency", "scale")


def main() -> None:
    rows = []
    start = time.perf_counter()
    for name in SCRIPTS:
        print(f"== benchmarks.{name}", flush=True)
        began = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}"])
        rows.append({"script": name, "exit": code,
                     "minutes": round((time.perf_counter() - began) / 60, 2)})
    total = round((time.perf_counter() - start) / 60, 2)
    print_table(rows)
    print(f"total {total} min")
    write_result("all", {"scripts": rows, "total_minutes": total})
    if any(r["exit"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
