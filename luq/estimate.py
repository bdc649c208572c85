"""What-if memory estimates from a model's layout alone (no weights, no profile).

``ultra_low_needed`` answers "how many decoder blocks must go ultra-low to fit this budget?".
Within one of the supported architectures every decoder block has the same shapes, so the
count does not depend on *which* blocks go ultra-low; choosing them (lowest entropy first)
needs a profile. Should blocks differ in size, the count assumes the worst case: the blocks
that save least go first, so any choice of that many blocks fits.

``reference_points`` prices the three deployments the paper compares (16-bit, uniform
4-bit, LUQ with ``n_low`` ultra-low blocks) on the same layout, in total and for the language
model alone (``llm_bytes``: without vision tower and projector, which llama.cpp keeps in a
separate ``mmproj`` file; the paper's llama.cpp sizes are of that part, in GiB).
"""

from __future__ import annotations

from collections.abc import Sequence

from luq.memory import ModelLayout, plan_memory
from luq.plan import BitPlan
from luq.quant.registry import weight_nbytes
from luq.quant.spec import FULL_PRECISION, QuantSpec
from luq.select import budget_range, greedy_select, layer_order
from luq.tower import tower_parts

VISION_PARTS = ("vision", "projector")
AUTO_EMBED_BITS = 4  # what embeddings and lm_head drop to when a budget needs it (Q4_K_M-like)
SIZE_BITS = (16, 8, 4, 3, 2)  # the uniform sizes "what fits" lists
SIZE_GROUP = 64  # 64 divides every supported hidden size
# The paper's measured operating points (arXiv 2509.23729), matched to a layout by
# model type and decoder depth.
PAPER_POINTS = (
    {"model": "LLaVA-1.5-7B", "model_type": "llava", "layers": 32, "n_low": 16,
     "avg_bits": 2.54, "mme_perception": {"fp16": 1510, "awq-4bit": 1456, "luq": 1365,
                                         "billm-everywhere": 561},
     "llama_cpp_gb": None},
    {"model": "Qwen2.5-VL-7B", "model_type": "qwen2_5_vl", "layers": 28, "n_low": 12,
     "avg_bits": 2.75, "mme_perception": {"fp16": 1695, "awq-4bit": 1645, "luq": 1640,
                                         "billm-everywhere": 638},
     "llama_cpp_gb": {"fp16": 14.5, "q4_k_m": 4.4, "luq": 3.4}},
)
PROFILE_HINT = ("which blocks go ultra-low needs an entropy profile: python -m luq profile "
                "--model M --out P, then python -m luq plan --profile P --budget-mb X")


def block_bytes(layout: ModelLayout, spec: QuantSpec) -> list[int]:
    """Stored bytes of each decoder block's linear weights under ``spec``, in depth order."""
    return [sum(weight_nbytes(shape, spec) for _, shape in b.linears) for b in layout.blocks]


def ultra_low_needed(layout: ModelLayout, budget_bytes: int, high_spec: QuantSpec,
                     low_spec: QuantSpec, parts: dict[str, QuantSpec] | None = None) -> dict:
    """How many decoder blocks must go from ``high_spec`` to ``low_spec`` to fit a budget.

    Args:
        layout: the model's shapes (``luq.memory.model_layout``; a meta model is enough).
        budget_bytes: total weight memory allowed.
        high_spec: the setting of the blocks that stay (e.g. RTN 4-bit).
        low_spec: the ultra-low setting (e.g. BiLLM 1-bit).
        parts: optional settings for ``embeddings`` / ``lm_head`` (fp16 otherwise).

    Returns:
        JSON-ready dict: ``fits``; ``n_low`` (None when even all blocks ultra-low do not fit)
        of ``layers``; ``total_bytes`` and ``avg_bits`` of the resulting plan (its full
        memory report is under ``memory``); ``min_bytes`` / ``max_bytes``, the all-ultra-low
        and all-high totals; ``equal_blocks``; ``which_layers`` (always None here: it needs
        a profile) and a ``note``.

    Example:
        LLaVA-1.5-7B, ``rtn-4b-g64`` high, ``billm-1b-pc`` low, 3.5 GB -> ``n_low`` 21
        (``total_bytes`` 3,496,742,112, ``avg_bits`` 2.87).
    """
    saves = [h - lo for h, lo in zip(block_bytes(layout, high_spec),
                                     block_bytes(layout, low_spec))]
    equal = len(set(saves)) <= 1
    order = [b.name for _, b in sorted(zip(saves, layout.blocks), key=lambda p: p[0])]
    minimum, maximum = budget_range(layout, high_spec, low_spec, parts)
    out = {"budget_bytes": int(budget_bytes), "layers": len(layout.blocks),
           "high": high_spec.label, "low": low_spec.label, "min_bytes": minimum,
           "max_bytes": maximum, "equal_blocks": equal, "which_layers": None}
    if budget_bytes < minimum:
        note = (f"does not fit: the smallest possible plan (every block at {low_spec.label}) "
                f"needs {minimum / 1e6:.1f} MB; quantize embeddings / lm_head (--embed-bits) "
                "or pick a lower setting")
        return {**out, "fits": False, "n_low": None, "total_bytes": minimum,
                "avg_bits": None, "note": note}
    sel = greedy_select(layout, order, high_spec, low_spec, budget_bytes, order_name="count",
                        parts=parts)
    note = PROFILE_HINT
    if not equal:
        note += ("; decoder blocks differ in size, so the count assumes the worst case "
                 "(the blocks that save least go first)")
    if sel.note:
        note = f"{sel.note}; {note}"
    return {**out, "fits": True, "n_low": sel.n_low, "total_bytes": sel.memory.total_bytes,
            "avg_bits": round(sel.memory.avg_bits, 4), "note": note,
            "memory": sel.memory.to_dict()}


def reference_points(layout: ModelLayout, n_low: int, high_spec: QuantSpec,
                     low_spec: QuantSpec, parts: dict[str, QuantSpec] | None = None
                     ) -> dict[str, dict]:
    """Bytes (total and language model only) and average decoder bits of fp16, uniform
    ``high_spec`` and LUQ.

    LUQ puts the first ``n_low`` blocks at ``low_spec`` (equal blocks: which ones does not
    change memory). ``parts`` applies to the quantized settings only; fp16 is all 16-bit.
    """
    names = layout.block_names
    plans = {
        "fp16": (BitPlan.uniform(names, FULL_PRECISION), None),
        "uniform": (BitPlan.uniform(names, high_spec), parts),
        "luq": (BitPlan.mixed(names, high_spec, low_spec, names[:n_low]), parts),
    }
    out = {}
    for key, (plan, plan_parts) in plans.items():
        report = plan_memory(layout, plan, plan_parts)
        tower = sum(report.breakdown.get(k, 0) for k in VISION_PARTS)
        out[key] = {"total_bytes": report.total_bytes, "llm_bytes": report.total_bytes - tower,
                    "avg_bits": round(report.avg_bits, 3), "decoder_bytes": report.decoder_bytes}
    return out


def embed_parts(embed_bits: int | None) -> dict[str, QuantSpec] | None:
    """Embeddings and lm_head stored with RTN at ``embed_bits`` (None or 0: fp16)."""
    if not embed_bits:
        return None
    spec = QuantSpec("rtn", embed_bits, SIZE_GROUP)
    return {"embeddings": spec, "lm_head": spec}


def uniform_sizes(layout: ModelLayout, bits: Sequence[int] = SIZE_BITS) -> dict[str, int]:
    """Total bytes with every decoder block at fp16 or RTN ``b`` bits (group 64), the rest
    fp16: ``{"fp16": ..., "8-bit": ..., ...}``."""
    out = {}
    for b in bits:
        spec = FULL_PRECISION if b == 16 else QuantSpec("rtn", b, SIZE_GROUP)
        key = "fp16" if b == 16 else f"{b}-bit"
        out[key] = plan_memory(layout, BitPlan.uniform(layout.block_names, spec)).total_bytes
    return out


def paper_point(layout: ModelLayout, high_spec: QuantSpec, low_spec: QuantSpec,
                parts: dict[str, QuantSpec] | None = None) -> dict | None:
    """The paper's measured point for this architecture and depth, with our estimate of the
    same plan (its number of ultra-low blocks) beside it; None for other models."""
    for point in PAPER_POINTS:
        if (point["model_type"], point["layers"]) == (layout.model_type, len(layout.blocks)):
            ours = reference_points(layout, point["n_low"], high_spec, low_spec, parts)
            return {**point, "ours": ours}
    return None


def what_fits(layout: ModelLayout, budget_bytes: int, high_spec: QuantSpec,
              low_spec: QuantSpec, embed_bits: int | None = None,
              scores: Sequence[float] | None = None, model: str = "",
              tower: QuantSpec | None = None) -> dict:
    """Everything "what fits in N bytes, and at what cost?" needs, from a layout alone.

    The one answer of ``python -m luq memory --budget-mb`` and the app's What-fits tab.

    Args:
        layout: the model's shapes (a meta model is enough).
        budget_bytes: total weight memory allowed.
        high_spec, low_spec: the two LUQ settings.
        embed_bits: store embeddings and lm_head at these bits (0: fp16). None: fp16, or
            :data:`AUTO_EMBED_BITS` when the budget cannot be met with fp16 (and it says so).
        scores: per-block entropies from a profile; with them ``which_layers`` names the
            blocks LUQ sends ultra-low (lowest entropy first).
        model: recorded in the result.
        tower: the vision tower's and projector's setting (``luq.tower``; fp16 when None).

    Returns:
        :func:`ultra_low_needed`'s dict plus ``model``, ``sizes`` (uniform fp16/8/4/3/2-bit
        totals), ``fp16_parts`` (bytes of what stays 16-bit), ``embeddings_and_lm_head``
        (how they are stored, and why), ``which_layers`` and ``paper`` (the paper's
        measured point for this model, with our estimate of it, or None).
    """
    towers = tower_parts(tower or FULL_PRECISION)
    parts = {**(embed_parts(embed_bits) or {}), **towers}
    embeddings = f"{embed_bits}-bit RTN" if embed_bits else "fp16"
    out = ultra_low_needed(layout, budget_bytes, high_spec, low_spec, parts)
    if not out["fits"] and embed_bits is None:
        parts = {**(embed_parts(AUTO_EMBED_BITS) or {}), **towers}
        out = ultra_low_needed(layout, budget_bytes, high_spec, low_spec, parts)
        embeddings = (f"{AUTO_EMBED_BITS}-bit RTN: the budget cannot be met with fp16 "
                      "embeddings and lm_head (pass --embed-bits 0 to keep them in fp16)")
    if out["fits"] and scores is not None:
        ordered = layer_order(layout.block_names, "entropy", scores)
        out["which_layers"] = sorted(ordered[:out["n_low"]], key=layout.block_names.index)
    breakdown = out.get("memory", {}).get("breakdown") or plan_memory(
        layout, BitPlan.uniform(layout.block_names, low_spec), parts).breakdown
    fp16_parts = {k: v for k, v in breakdown.items()
                  if not k.startswith("decoder_") or k == "decoder_other"}
    if parts:
        fp16_parts = {k: v for k, v in fp16_parts.items() if k not in parts}
    return {"model": model, **out, "sizes": uniform_sizes(layout), "fp16_parts": fp16_parts,
            "embeddings_and_lm_head": embeddings,
            "paper": paper_point(layout, high_spec, low_spec, parts)}
