"""Deployment rules of a :class:`~luq.plan.BitPlan` for other quantization tools.

* :func:`gptqmodel_config`: a GPTQModel ``QuantizeConfig`` (as a dict) whose ``dynamic``
  rules give each non-default decoder block its own bits / group size. GPTQModel (and vLLM,
  which reads the same field) matches each rule with ``re.match`` against full module
  names: ``+:`` (or no prefix) overrides the base config, ``-:`` skips quantization.
* :func:`llama_cpp_overrides`: ``llama-quantize --tensor-type PATTERN=TYPE`` arguments.
  llama.cpp matches PATTERN with ``std::regex_search`` against GGUF tensor names such as
  ``blk.3.attn_q.weight`` (``blk.N`` = decoder block N); types are ggml type names.
* :func:`gguf_tensor_type`: the type each GGUF tensor gets, as ``llama-quantize`` would
  choose it for a Q4_K_M base with one override per block (``luq.export.gguf`` writes it).
"""

from __future__ import annotations

import re
import shlex

from luq.plan import BitPlan
from luq.quant import ggml_types
from luq.quant.spec import QuantSpec

GPTQMODEL_BITS = {1: 2, 2: 2, 3: 3, 4: 4, 5: 8, 6: 8, 7: 8, 8: 8}  # GPTQModel: 2/3/4/8 bits
# Our setting -> ggml tensor type: the one table every llama.cpp export reads. Keys are
# (method, bits); method "*" is any group-wise quantizer (rtn / gptq / awq) at that width.
# 4 bits -> Q4_K, not Q4_1: Q4_1 would hold our asymmetric g64 codes exactly, but costs
# 5.0 bits per weight against 4.5, and ggml's Q4_K quantizer (6-bit sub-block scales and mins,
# searched) lands below our own RTN's error at the same 4.5 bits (rel. squared error 0.009 vs
# 0.017 on a 512x2048 heavy-tailed weight); Q4_K is what a Q4_K_M user expects.
GGML_TYPES: dict[tuple[str, int], str] = {
    ("fp16", 16): "F16",
    ("billm", 1): "IQ1_M",  # residual / split binarization has no exact GGUF type (paper: IQ1_M)
    ("*", 1): "Q1_0",       # sign binarization, one fp16 scale per 128 weights
    ("*", 2): "Q2_K", ("*", 3): "Q3_K", ("*", 4): "Q4_K", ("*", 5): "Q5_K", ("*", 6): "Q6_K",
    ("*", 7): "Q8_0", ("*", 8): "Q8_0",
}
ULTRA_LOW_TYPES = ("IQ1_M", "Q1_0", "Q2_K", "IQ2_XXS")  # what ultra-low blocks may be stored as
LLAMA_FTYPES = {1: "IQ1_M", 2: "Q2_K", 3: "Q3_K_M", 4: "Q4_K_M", 5: "Q5_K_M", 6: "Q6_K",
                7: "Q8_0", 8: "Q8_0"}
NEEDS_IMATRIX = ggml_types.NEEDS_IMATRIX  # llama-quantize's tensor_requires_imatrix


def block_index(name: str) -> int:
    """Index of a decoder block from its full name (``model.language_model.layers.7`` -> 7)."""
    tail = name.rsplit(".", 1)[-1]
    if not tail.isdigit():
        raise ValueError(f"{name!r} does not end in a block index")
    return int(tail)


def base_spec(plan: BitPlan) -> QuantSpec:
    """The plan's default setting: the widest quantized one, the most used among equals."""
    quantized = [s for s in plan.specs() if s.method != "fp16"]
    if not quantized:
        raise ValueError("the plan quantizes no block")
    return max(quantized, key=lambda s: (s.bits, plan.count(s)))


def gptqmodel_rule(name: str) -> str:
    """Regex (no ``+:``/``-:`` prefix) matching every module of decoder block ``name``.

    It keys on the language model's scope (``language_model``, ``text_model``) and the block
    index, so it matches transformers' names (``model.language_model.layers.3.mlp.up_proj``)
    and vLLM's (``language_model.model.layers.3.mlp.up_proj``), never the vision tower.
    """
    path, _, index = name.rpartition(".")
    parts = path.split(".")
    scope = f".*{re.escape(parts[-2])}\\.(.*\\.)?" if len(parts) > 1 else ".*"
    return f"{scope}{re.escape(parts[-1])}\\.{index}\\."


def gptqmodel_config(plan: BitPlan, desc_act: bool = False, sym: bool = True) -> dict:
    """A GPTQModel ``QuantizeConfig`` dict with one ``dynamic`` rule per non-default block.

    Args:
        plan: the plan to export.
        desc_act: GPTQ activation order for the base config.
        sym: symmetric quantization for the base config.

    Returns:
        ``{"quantize_config": {...}, "notes": [...]}``; ``QuantizeConfig(**quantize_config)``
        builds it in GPTQModel. Blocks kept in 16 bits get a ``-:`` (skip) rule.
    """
    base = base_spec(plan)
    notes: list[str] = []
    dynamic: dict[str, dict] = {}
    for a in plan.layers:
        if a.spec == base:
            continue
        if a.spec.method == "fp16":
            dynamic[f"-:{gptqmodel_rule(a.name)}"] = {}
            continue
        dynamic[f"+:{gptqmodel_rule(a.name)}"] = {"bits": GPTQMODEL_BITS[a.spec.bits],
                                                  "group_size": a.spec.group_size or -1}
        if GPTQMODEL_BITS[a.spec.bits] != a.spec.bits:
            notes.append(f"GPTQModel has no {a.spec.bits}-bit setting: blocks at "
                         f"{a.spec.label} are exported at {GPTQMODEL_BITS[a.spec.bits]} bits")
    config = {"bits": GPTQMODEL_BITS[base.bits], "group_size": base.group_size or -1,
              "desc_act": desc_act, "sym": sym, "dynamic": dynamic}
    return {"quantize_config": config, "notes": sorted(set(notes))}


def is_ultra_low(spec: QuantSpec) -> bool:
    """Below 3 bits: the settings an ultra-low GGUF type may replace."""
    return spec.method != "fp16" and spec.bits <= 2


def ggml_type(spec: QuantSpec, ultra_low: str | None = None) -> str:
    """The llama.cpp tensor type of a block stored as ``spec``: a ``ggml`` setting's own type,
    else :data:`GGML_TYPES`'s mapping.

    Args:
        spec: the block's setting.
        ultra_low: put ultra-low research-quantizer blocks (:func:`is_ultra_low`) at this type
            instead, one of :data:`ULTRA_LOW_TYPES` (a ``ggml`` setting is never mapped).
    """
    if spec.method == "ggml":
        return spec.type
    if ultra_low is not None:
        if ultra_low not in ULTRA_LOW_TYPES:
            raise ValueError(f"unknown ultra-low type {ultra_low!r}; known: "
                             f"{', '.join(ULTRA_LOW_TYPES)}")
        if is_ultra_low(spec):
            return ultra_low
    key = (spec.method, spec.bits) if (spec.method, spec.bits) in GGML_TYPES else ("*", spec.bits)
    return GGML_TYPES[key]


def block_types(plan: BitPlan, ultra_low: str | None = None) -> dict[int, str]:
    """The ggml type of each decoder block by index (:func:`ggml_type` of its setting)."""
    return {block_index(a.name): ggml_type(a.spec, ultra_low) for a in plan.layers}


def use_more_bits(i: int, n: int) -> bool:
    """llama.cpp's Q4_K_M rule: blocks whose ``attn_v`` / ``ffn_down`` get Q6_K."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def gguf_tensor_type(name: str, block_types: dict[int, str], tied_output: bool = False,
                     token_embd: str = "Q4_K", output: str = "Q6_K",
                     exact: frozenset[int] = frozenset()) -> str | None:
    """The type of one 2-D GGUF tensor, as ``llama-quantize`` picks it for Q4_K_M + overrides.

    A Q4_K block's ``attn_v`` and ``ffn_down`` get Q6_K where :func:`use_more_bits` says (by
    block index; llama-quantize counts only tensors no override touched), every other block
    tensor its block's type; ``token_embd`` Q4_K and ``output`` Q6_K (a tied ``token_embd`` is
    the output). :func:`fallback_type` then adapts it to the tensor's row length.

    Args:
        name: GGUF tensor name (``blk.3.attn_v.weight``, ``token_embd.weight``...).
        block_types: type of each decoder block by index.
        tied_output: the model has no ``output.weight`` (tied embeddings).
        token_embd: type of the token embeddings.
        output: type of the output projection.
        exact: blocks whose every tensor takes the block's type as it is (``ggml``
            settings: the type the explorer measured, no Q4_K_M mixing).

    Returns:
        A ggml type name, or None for a tensor that is none of these (kept as it is).
    """
    if name == "output.weight" or (tied_output and name == "token_embd.weight"):
        return output
    if name == "token_embd.weight":
        return token_embd
    m = re.match(r"blk\.(\d+)\.(\w+)\.weight$", name)
    if m is None or int(m[1]) not in block_types:
        return None
    block, qtype = int(m[1]), block_types[int(m[1])]
    if qtype == "Q4_K" and block not in exact and m[2] in ("attn_v", "ffn_down") \
            and use_more_bits(block, len(block_types)):
        return "Q6_K"
    return qtype


def fallback_type(qtype: str, n_per_row: int, keep_size: bool = True) -> str:
    """``qtype``, or another type when its block does not divide the row length
    (:func:`luq.quant.ggml_types.stored_type`: the one fallback rule)."""
    return ggml_types.stored_type(qtype, n_per_row, keep_size)


def llama_cpp_overrides(plan: BitPlan, input_gguf: str = "model-f16.gguf",
                        output_gguf: str = "model-luq.gguf",
                        imatrix: str = "imatrix.dat") -> dict:
    """``llama-quantize`` overrides putting each non-default block at its own type.

    The base ftype comes from the plan's default setting (4-bit -> ``Q4_K_M``, as in the
    paper); every other block gets one ``^blk\\.N\\.=TYPE`` override (anchored, so it never
    touches an ``mmproj`` tower's ``v.blk.N`` tensors; block patterns never overlap).

    Returns:
        ``{"ftype", "tensor_types", "args", "command", "per_layer", "notes"}``:
        ``tensor_types`` are the PATTERN=TYPE strings (also the ``--tensor-type-file``
        format, one per line), ``args`` the argv fragment, ``command`` a shell line, and
        ``per_layer`` the type of every block by index.
    """
    base = base_spec(plan)
    ftype = LLAMA_FTYPES[base.bits]
    per_layer = {block_index(a.name): ggml_type(a.spec) for a in plan.layers}
    # a ggml setting is overridden even at the base type: Q4_K_M would mix in Q6_K
    tensor_types = [f"^blk\\.{block_index(a.name)}\\.={ggml_type(a.spec).lower()}"
                    for a in plan.layers if a.spec != base or a.spec.method == "ggml"]
    args = [x for t in tensor_types for x in ("--tensor-type", t)]
    needs_imatrix = any(t in NEEDS_IMATRIX for t in per_layer.values())
    lead = ["llama-quantize"] + (["--imatrix", imatrix] if needs_imatrix else [])
    command = shlex.join(lead + args + [input_gguf, output_gguf, ftype])
    notes = [f"{ftype} also sets token_embd / output types (override with "
             "--token-embedding-type / --output-tensor-type)"]
    if needs_imatrix:
        notes.append("IQ1/IQ2 types need an importance matrix: llama-imatrix -m "
                     f"{input_gguf} -f calibration.txt -o {imatrix}")
    return {"ftype": ftype, "tensor_types": tensor_types, "args": args, "command": command,
            "per_layer": per_layer, "notes": notes}


