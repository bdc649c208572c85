"""The default quantization settings, shared by the CLI, the app and the benchmarks.

``HIGH`` is the setting most decoder blocks keep (4-bit RTN, group 64: within a point of
full precision on the embedded model). ``LOW`` is the ultra-low setting the greedy selection
moves blocks to: BiLLM-style binarization with per-channel scales (about 1.1 stored bits per
weight, the closest here to the paper's 1.08-bit BiLLM). It is the default because on the
embedded model it is where the choice of layers visibly matters: one block binarized costs
from nothing (10 of 12 blocks) to 65 points (block 0), every block binarized costs 13 points,
while uniform 2-bit RTN costs nothing at all (``benchmarks/results/embedded_quality.json``).
"""

from __future__ import annotations

from luq.quant.spec import QuantSpec

HIGH = QuantSpec("rtn", 4, 64)
LOW = QuantSpec("billm", 1, 0, split=False)
