"""The default quantization settings, shared by the CLI, the app and the benchmarks.

Both are llama.cpp's own types (``ggml`` settings: what a GGUF stores, quantized by ggml with
the calibration's importance matrix), so the accuracy the explorer shows is the file's.
``HIGH`` is Q4_K (4.5 bits per weight; within 0.1 points of full precision on the embedded
model). ``LOW`` is Q1_0 (1.125 bits: a sign and one fp16 scale per 128 weights), the
ultra-low type whose LUQ curve is best on the embedded model when every pair is judged over
one memory range, from the smallest plan any type makes to uniform Q4_K, a type counting
nothing below its own smallest plan (``benchmarks/results/ultra_low_types.json``; the README
has the table). It is also where the choice of blocks visibly matters (mixed plans lose up to
23 points where every block at Q1_0 keeps 96.5 %), and llama.cpp's fastest ultra-low type on
a 2-core CPU. The research quantizers (BiLLM-style binarization, RTN, GPTQ, AWQ) stay
available everywhere a setting is named; their GGUF mapping is in :mod:`luq.export.rules`.
"""

from __future__ import annotations

from luq.quant.spec import QuantSpec

HIGH = QuantSpec.ggml("Q4_K")
LOW = QuantSpec.ggml("Q1_0")
RESEARCH_HIGH = QuantSpec("rtn", 4, 64)  # the research pair, the defaults until 2026-12-04
RESEARCH_LOW = QuantSpec("billm", 1, 0, split=False)


def uniform_baselines(high: QuantSpec) -> list[QuantSpec]:
    """The uniform 4/3/2-bit models a curve is set beside, in the high setting's family:
    llama.cpp's Q4_K, Q3_K, Q2_K for a ``ggml`` setting, else RTN at its group size."""
    if high.method == "ggml":
        return [QuantSpec.ggml(t) for t in ("Q4_K", "Q3_K", "Q2_K")]
    return [QuantSpec("rtn", b, high.group_size or 64) for b in (4, 3, 2)]
