"""A model under a :class:`~luq.plan.BitPlan` as a llama.cpp GGUF, each decoder block at its type.

Route: the model's ``save_pretrained`` folder -> llama.cpp's ``convert_hf_to_gguf.py``
(subprocess) -> an unquantized GGUF -> every 2-D tensor re-quantized by ggml's own quantizer
at the type :func:`~luq.export.rules.gguf_tensor_type` gives it (what ``llama-quantize`` with
a Q4_K_M base and one ``--tensor-type`` override per block writes), with an importance matrix
from our calibration batches -> a new GGUF with the converter's metadata. The vision tower
becomes an ``mmproj`` GGUF where the converter supports it.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from luq.engines import ggml
from luq.engines.convert import convert_hf_to_gguf, save_folder, write_llava_mmproj
from luq.export import rules
from luq.export.readme import readme
from luq.plan import BitPlan
from luq.progress import Progress
from luq.quant.linear import QuantLinear
from luq.tower import typed_mmproj

# Where the converter takes the vision tower (--mmproj), by config.model_type; LLaVA's CLIP
# tower goes llama.cpp's LLaVA route instead (write_llava_mmproj).
MMPROJ_TYPES = ("qwen2_5_vl", "qwen2_vl", "idefics3", "smolvlm")


class GGUFExportError(RuntimeError):
    """The model, plan or options cannot be exported; the message says why."""


@dataclass
class GGUFExport:
    """What :func:`export_gguf` wrote.

    Attributes:
        model: the language model GGUF.
        mmproj: the vision projector GGUF, or None (see ``notes``).
        base: the converter's unquantized GGUF when kept, else None.
        readme: how to run it.
        model_bytes / mmproj_bytes: file sizes.
        block_types: ggml type of each decoder block by index.
        tensor_types: ggml type of every tensor of ``model`` by GGUF name.
        notes: what is approximate or missing.
    """

    model: Path
    mmproj: Path | None
    base: Path | None
    readme: Path
    model_bytes: int
    mmproj_bytes: int
    block_types: dict[int, str]
    tensor_types: dict[str, str] = field(repr=False)
    notes: list[str]

    def stored_block_types(self) -> dict[int, str]:
        """The types each decoder block's weights are stored as (``"Q4_0+Q8_0"`` when they
        differ), which can differ from ``block_types`` where a row length needed another."""
        found: dict[int, set[str]] = {}
        for name, qtype in self.tensor_types.items():
            parts = name.split(".")
            if parts[0] == "blk" and qtype not in ("F32",):
                found.setdefault(int(parts[1]), set()).add(qtype)
        return {i: "+".join(sorted(t)) for i, t in sorted(found.items())}

    def to_dict(self) -> dict:
        out = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        out["stored_block_types"] = self.stored_block_types()
        return out


def _linears(model: nn.Module, plan: BitPlan) -> dict[str, nn.Linear]:
    found = {f"{a.name}.{sub}": m for a in plan.layers
             for sub, m in model.get_submodule(a.name).named_modules()
             if isinstance(m, nn.Linear)}
    head = model.get_output_embeddings()
    if isinstance(head, nn.Linear):
        found["lm_head"] = head
    return found


@torch.no_grad()
def compute_imatrix(model: nn.Module, plan: BitPlan, batches: list[dict],
                    progress: Progress | None = None) -> dict[str, torch.Tensor]:
    """Importance of each input column of every block linear and the output head.

    As ``llama-imatrix`` computes it: the mean of ``x[j]**2`` over every calibration token
    that reaches the linear (image and text positions alike).

    Args:
        model: the float model.
        plan: names the decoder blocks (full module names).
        batches: model inputs (``calibration_batches`` output).

    Returns:
        ``{full linear name (or "lm_head"): (in_features,) float32}``.
    """
    linears = _linears(model, plan)
    sums = {n: torch.zeros(m.in_features, dtype=torch.float64) for n, m in linears.items()}
    counts = dict.fromkeys(linears, 0)

    def hook(name):
        def record(_module, inputs, _output):
            x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).double().cpu()  # (tokens, in)
            sums[name] += (x * x).sum(0)
            counts[name] += x.shape[0]
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in linears.items()]
    device = next(model.parameters()).device
    try:
        for i, batch in enumerate(batches):
            model(**{k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()})
            if progress:
                progress(i + 1, len(batches), "importance matrix")
    finally:
        for h in handles:
            h.remove()
    return {n: (sums[n] / max(1, counts[n])).float() for n in linears}


def gguf_imatrix(imatrix: dict[str, torch.Tensor], plan: BitPlan, arch: str,
                 tied_output: bool = False) -> dict[str, np.ndarray]:
    """Renames :func:`compute_imatrix` entries to GGUF tensor names (``blk.3.attn_q.weight``).

    Each block linear is named as in a plain decoder (``model.layers.3.self_attn.q_proj``)
    and looked up in gguf-py's tensor-name map of ``arch``; ``lm_head`` is ``output.weight``
    (``token_embd.weight`` when the embeddings are tied, as llama-imatrix sees it).
    """
    import gguf

    arch_id = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[arch]
    names = gguf.get_tensor_name_map(arch_id, len(plan.layers))
    out: dict[str, np.ndarray] = {}
    for full, vec in imatrix.items():
        if full == "lm_head":
            out["token_embd.weight" if tied_output else "output.weight"] = vec.numpy()
            continue
        block = next(a.name for a in plan.layers if full.startswith(a.name + "."))
        plain = f"model.layers.{rules.block_index(block)}.{full[len(block) + 1:]}.weight"
        name = names.get_name(plain, try_suffixes=(".weight",))
        if name is None:
            raise GGUFExportError(f"no GGUF tensor of {arch} for {full}")
        out[name] = vec.numpy()
    return out


def _convert(model: nn.Module, out: Path, name: str, outtype: str, processor, tokenizer_dir,
             mmproj: bool, notes: list[str], progress: Progress | None) -> tuple[Path, Path | None]:
    """The converter's unquantized GGUF, and the mmproj GGUF where the tower is supported."""
    model_type = getattr(model.config, "model_type", "")
    base, mm_path = out / f"{name}-{outtype}.gguf", None
    with tempfile.TemporaryDirectory() as tmp:
        save_folder(model, Path(tmp), processor, tokenizer_dir)
        if progress:
            progress(0, 1, "convert_hf_to_gguf.py")
        convert_hf_to_gguf(tmp, base, outtype)
        mm_out = out / f"mmproj-{name}-f16.gguf"
        if mmproj and model_type in MMPROJ_TYPES:
            mm_path = convert_hf_to_gguf(tmp, mm_out, "f16", mmproj=True)
        elif mmproj and model_type == "llava":
            ip = getattr(processor, "image_processor", None)
            norm = (ip.image_mean, ip.image_std) if ip is not None else ()
            mm_path = write_llava_mmproj(model, mm_out, "f16", *norm, name=name)
        elif mmproj and hasattr(model.config, "vision_config"):
            notes.append(f"no mmproj: the converter does not take {model_type}'s vision tower")
    return base, mm_path


def export_gguf(model: nn.Module, plan: BitPlan, out_dir: str | Path, processor=None,
                batches: list[dict] | None = None, imatrix: dict[str, torch.Tensor] | None = None,
                ultra_low: str | None = None, mmproj: bool = True, outtype: str = "f16",
                keep_base: bool = False, base: str | Path | None = None,
                tokenizer_dir: str | Path | None = None, name: str = "model",
                question: str = "Describe the image.", mmproj_type: str | None = None,
                progress: Progress | None = None) -> GGUFExport:
    """Exports ``model`` as a GGUF whose decoder blocks take ``plan``'s types.

    Args:
        model: the float model (no plan applied): a VLM of a supported architecture or a
            plain causal LM; ``plan`` names its decoder blocks.
        plan: one setting per block; :data:`~luq.export.rules.GGML_TYPES` maps it to a type.
        out_dir: folder for the GGUF files and README.md.
        processor: saved beside the weights (tokenizer for the GGUF, image settings for mmproj).
        batches: calibration inputs for the importance matrix.
        imatrix: a ready :func:`compute_imatrix` result instead of ``batches``.
        ultra_low: store ultra-low blocks as this type (``IQ1_M``, ``Q1_0``, ``Q2_K``,
            ``IQ2_XXS``) instead of the table's.
        mmproj: also write the vision projector where the converter supports the tower.
        outtype: the converter's unquantized type (``f32`` keeps fp32 weights exactly).
        keep_base: keep the converter's unquantized GGUF (``<name>-<outtype>.gguf``).
        base: that file from an earlier export of the same model: saving and converting are
            skipped (an ``mmproj-*.gguf`` beside it is reused) and it is kept.
        tokenizer_dir: a folder whose tokenizer files replace the processor's.
        name: file stem.
        question: the example question of the README's command lines.
        mmproj_type: store the mmproj's tower and projector linear weights as this ggml type
            (``Q8_0``, ``Q4_K``; rows its block does not divide take the fallback rule)
            instead of F16; no importance matrix (as ``luq.tower`` quantizes them).

    Raises:
        GGUFExportError: a plan block is quantized in ``model`` already, or a type needs an
            importance matrix and neither ``batches`` nor ``imatrix`` was given.
        luq.engines.convert.ConversionError: the converter refused the model (message says why).
    """
    types = rules.block_types(plan, ultra_low)
    reads_model = base is None or (imatrix is None and bool(batches))
    for a in plan.layers if reads_model else ():  # a ready base + imatrix never read it
        if any(isinstance(m, QuantLinear) for m in model.get_submodule(a.name).modules()):
            raise GGUFExportError(f"{a.name} is quantized in the model already: export the "
                                  "float model (ggml quantizes it)")
    needs = sorted({t for t in types.values() if t in rules.NEEDS_IMATRIX})
    if needs and imatrix is None and not batches:
        raise GGUFExportError(f"{', '.join(needs)} need an importance matrix: pass "
                              "calibration batches (or imatrix=compute_imatrix(...))")
    if imatrix is None and batches:
        imatrix = compute_imatrix(model, plan, batches, progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    notes = [f"{a.spec.label} has no exact GGUF type: exported as {types[i]}"
             for i, a in ((rules.block_index(a.name), a) for a in plan.layers)
             if a.spec.method == "billm"][:1]
    if base is None:
        base, mm_path = _convert(model, out, name, outtype, processor, tokenizer_dir, mmproj,
                                 notes, progress)
    else:
        base, keep_base = Path(base), True
        mm_path = next(base.parent.glob("mmproj-*.gguf"), None) if mmproj else None
    if mm_path is not None and mmproj_type not in (None, "F16"):
        mm_path = typed_mmproj(mm_path, out / f"mmproj-{name}-{mmproj_type.lower()}.gguf",
                               mmproj_type)
    import gguf

    reader = gguf.GGUFReader(base)
    arch = reader.fields["general.architecture"].contents()
    tied = "output.weight" not in {t.name for t in reader.tensors}
    del reader
    vectors = gguf_imatrix(imatrix, plan, arch, tied) if imatrix else {}
    ftype = rules.LLAMA_FTYPES.get(rules.base_spec(plan).bits, "GUESSED") if any(
        a.spec.method != "fp16" for a in plan.layers) else "F16"
    path = out / f"{name}-luq.gguf"
    fallen: list[str] = []
    exact = frozenset(rules.block_index(a.name) for a in plan.layers if a.spec.method == "ggml")

    def tensor_type(tensor: str, n_per_row: int) -> str | None:
        planned = rules.gguf_tensor_type(tensor, types, tied, exact=exact)
        qtype = None if planned is None else rules.fallback_type(planned, n_per_row)
        if qtype != planned:
            fallen.append(f"{tensor}: {planned} -> {qtype}")
        return qtype

    tensor_types = ggml.requantize_gguf(base, path, tensor_type, vectors,
                                        {"luq.plan": plan.to_json(None)}, ftype, progress)
    if not keep_base:
        base.unlink()
    if fallen:
        notes.append(f"{len(fallen)} tensors have rows their planned type's blocks do not "
                     f"divide and fell back (to a type of the same size where one exists, else "
                     f"as llama-quantize does; e.g. {fallen[0]})")
    result = GGUFExport(path, mm_path, base if keep_base else None, out / "README.md",
                        path.stat().st_size, mm_path.stat().st_size if mm_path else 0, types,
                        tensor_types, notes)
    result.readme.write_text(readme(result, plan, question))
    return result
