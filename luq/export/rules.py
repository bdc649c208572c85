"""Deployment rules of a :class:`~luq.plan.BitPlan` for other quantization tools.

* :func:`gptqmodel_config`: a GPTQModel ``QuantizeConfig`` (as a dict) whose ``dynamic``
  rules give each non-default decoder block its own bits / group size. GPTQModel (and vLLM,
  which reads the same field) matches each rule with ``re.match`` against full module
  names: ``+:`` (or no prefix) overrides the base config, ``-:`` skips quantization.
* :func:`llama_cpp_overrides`: ``llama-quantize --tensor-type PATTERN=TYPE`` arguments.
  llama.cpp matches PATTERN with ``std::regex_search`` against GGUF tensor names such as
  ``blk.3.attn_q.weight`` (``blk.N`` = decoder block N); types are ggml type names.
"""

from __future__ import annotations

import re
import shlex

from luq.plan import BitPlan
from luq.quant.spec import QuantSpec

GPTQMODEL_BITS = {1: 2, 2: 2, 3: 3, 4: 4, 5: 8, 6: 8, 7: 8, 8: 8}  # GPTQModel: 2/3/4/8 bits
# ggml tensor types per nominal width; the ultra-low ones follow the paper (IQ1_M).
GGML_TYPES = {1: "IQ1_M", 2: "IQ2_XXS", 3: "Q3_K", 4: "Q4_K", 5: "Q5_K", 6: "Q6_K",
              7: "Q8_0", 8: "Q8_0", 16: "F16"}
LLAMA_FTYPES = {1: "IQ1_M", 2: "Q2_K", 3: "Q3_K_M", 4: "Q4_K_M", 5: "Q5_K_M", 6: "Q6_K",
                7: "Q8_0", 8: "Q8_0"}
_NEEDS_IMATRIX = ("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS")


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


def ggml_type(spec: QuantSpec) -> str:
    """The llama.cpp tensor type closest to ``spec`` (BiLLM / 1-bit -> IQ1_M)."""
    return GGML_TYPES[1 if spec.method == "billm" else spec.bits]


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
    tensor_types = [f"^blk\\.{block_index(a.name)}\\.={ggml_type(a.spec).lower()}"
                    for a in plan.layers if a.spec != base]
    args = [x for t in tensor_types for x in ("--tensor-type", t)]
    needs_imatrix = any(t in _NEEDS_IMATRIX for t in per_layer.values())
    lead = ["llama-quantize"] + (["--imatrix", imatrix] if needs_imatrix else [])
    command = shlex.join(lead + args + [input_gguf, output_gguf, ftype])
    notes = [f"{ftype} also sets token_embd / output types (override with "
             "--token-embedding-type / --output-tensor-type)"]
    if needs_imatrix:
        notes.append("IQ1/IQ2 types need an importance matrix: llama-imatrix -m "
                     f"{input_gguf} -f calibration.txt -o {imatrix}")
    return {"ftype": ftype, "tensor_types": tensor_types, "args": args, "command": command,
            "per_layer": per_layer, "notes": notes}


