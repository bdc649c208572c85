"""The default quantization settings, shared by the CLI, the app and the benchmarks.

``HIGH`` is the setting most decoder blocks keep (4-bit RTN, group 64: within a point of
full precision on the embedded model). ``LOW`` is the ultra-low setting the greedy selection
moves blocks to: BiLLM-style binarization with per-channel scales (about 1.1 stored bits per
weight, the closest here to the paper's 1.08-bit BiLLM). It is the default because on the
embedded model it is where the choice of layers visibly matters (a few blocks are fragile,
most are not), while uniform 2-bit RTN costs nothing at all; the measured figures are in
``benchmarks/results/embedded_quality.json``.
"""

from __future__ import annotations

from luq.quant.spec import QuantSpec

HIGH = QuantSpec("rtn", 4, 64)
LOW = QuantSpec("billm", 1, 0, split=False)


def uniform_baselines(high: QuantSpec) -> list[QuantSpec]:
    """The uniform 4/3/2-bit models a curve is set beside, in the high setting's family:
    llama.cpp's Q4_K, Q3_K, Q2_K for a ``ggml`` setting, else RTN at its group size."""
    if high.method == "ggml":
        return [QuantSpec.ggml(t) for t in ("Q4_K", "Q3_K", "Q2_K")]
    return [QuantSpec("rtn", b, high.group_size or 64) for b in (4, 3, 2)]
