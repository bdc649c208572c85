"""Quantization methods by name: what each needs, what it supports, how it stores.

Each method turns a weight matrix (plus optional calibration statistics) into a
:class:`~luq.quant.spec.QuantizedWeight`, reads it back, and states its stored bytes from
the shape alone (so memory accounting needs no quantization and works on meta tensors).
"""

from __future__ import annotations

import functools
import math

import torch

import luq.quant.rtn as rtn
from luq.quant.awq import awq_search_scale
from luq.quant.binarize import binarize, dequantize_binarized, n_alpha, store_binarized
from luq.quant.ggml_types import get_type, row_nbytes, stored_type
from luq.quant.gptq import gptq_quantize
from luq.quant.pack import packed_nbytes
from luq.quant.spec import SUPPORTED_BITS, QuantizedWeight, QuantSpec
from luq.quant.stats import InputStats, StatsNeeds

FP_BYTES = 2  # full precision is counted as fp16/bf16


class QuantMethod:
    """Base: class attributes state the capabilities."""

    name: str = ""
    supported_bits: tuple[int, ...] = ()
    requires_calibration: bool = False
    uses_calibration: bool = False  # better with statistics, fine without
    description: str = ""

    def quantize(self, w: torch.Tensor, spec: QuantSpec,
                 stats: InputStats | None = None) -> QuantizedWeight:
        raise NotImplementedError

    def dequantize(self, qw: QuantizedWeight, out: torch.Tensor | None = None) -> torch.Tensor:
        """The float32 weight; written into ``out`` (float32, enough values) when given."""
        raise NotImplementedError

    def needs(self, spec: QuantSpec) -> StatsNeeds:
        """What this method reads from calibration statistics under ``spec``."""
        return StatsNeeds()

    def nbytes(self, shape: tuple[int, int], spec: QuantSpec) -> int:
        raise NotImplementedError

    def _need_stats(self, stats: InputStats | None) -> InputStats:
        if stats is None or stats.rows == 0:
            raise ValueError(f"{self.name} needs calibration inputs (InputStats with data)")
        return stats


class FullPrecision(QuantMethod):
    name = "fp16"
    supported_bits = SUPPORTED_BITS["fp16"]
    description = "kept in 16-bit floating point"

    def quantize(self, w, spec, stats=None):
        return QuantizedWeight(spec, tuple(w.shape), {"weight": w.detach().half()})

    def dequantize(self, qw, out=None):
        w = qw.tensors["weight"]
        return w.float() if out is None else out.reshape(-1)[: w.numel()].view(w.shape).copy_(w)

    def nbytes(self, shape, spec):
        return shape[0] * shape[1] * FP_BYTES


class RTN(QuantMethod):
    name = "rtn"
    supported_bits = SUPPORTED_BITS["rtn"]
    description = "group-wise asymmetric round-to-nearest"

    def quantize(self, w, spec, stats=None):
        spec.groups(w.shape[1])
        return rtn.store(spec, *rtn.rtn_quantize(w, spec.bits, spec.group_size))

    def dequantize(self, qw, out=None):
        return rtn.dequantize_stored(qw, out)

    def nbytes(self, shape, spec):
        return rtn.stored_nbytes(shape, spec)


class GPTQ(RTN):
    name = "gptq"
    supported_bits = SUPPORTED_BITS["gptq"]
    requires_calibration = True
    uses_calibration = True
    description = "GPTQ: Hessian-aware error feedback (Frantar et al., 2022)"

    def needs(self, spec):
        return StatsNeeds(hessian=True)

    def quantize(self, w, spec, stats=None):
        spec.groups(w.shape[1])
        H = self._need_stats(stats).hessian
        if H is None:
            raise ValueError("gptq needs the full Hessian; these statistics were reduced")
        codes, scale, zero = gptq_quantize(w, H, spec.bits, spec.group_size, spec.damp,
                                           spec.act_order)
        return rtn.store(spec, codes, scale, zero)


class AWQ(RTN):
    name = "awq"
    supported_bits = SUPPORTED_BITS["awq"]
    requires_calibration = True
    uses_calibration = True
    description = "AWQ-style activation-aware channel scaling, then RTN (Lin et al., 2023)"

    def needs(self, spec):
        return StatsNeeds(samples=True)

    def quantize(self, w, spec, stats=None):
        spec.groups(w.shape[1])
        x = self._need_stats(stats).samples
        if not x.numel():
            raise ValueError("awq needs input samples; these statistics were reduced")
        s = awq_search_scale(w, x, spec.bits, spec.group_size)
        codes, scale, zero = rtn.rtn_quantize(w.float() * s, spec.bits, spec.group_size)
        return rtn.store(spec, codes, scale, zero, in_scale=s)

    def dequantize(self, qw, out=None):
        return rtn.dequantize_stored(qw, out).div_(qw.tensors["in_scale"].float())

    def nbytes(self, shape, spec):
        return rtn.stored_nbytes(shape, spec) + shape[1] * FP_BYTES


class BiLLM(QuantMethod):
    name = "billm"
    supported_bits = SUPPORTED_BITS["billm"]
    uses_calibration = True
    description = "BiLLM-style binarization: residual salient columns, split scales"

    def needs(self, spec):
        if spec.group_size == 0:  # one block: salient columns only, no error feedback
            return StatsNeeds(hinv_diag=frozenset({spec.damp}))
        return StatsNeeds(hessian=True)

    def quantize(self, w, spec, stats=None):
        spec.groups(w.shape[1])
        H = diag = None
        if stats is not None and stats.rows:
            H = stats.hessian
            diag = stats.hinv_diag(spec.damp) if spec.group_size == 0 else None
            if H is None and diag is None:
                raise ValueError(f"{spec.label} needs the Hessian; these statistics were reduced")
        r = binarize(w, spec.group_size, spec.salient_fraction, spec.split,
                     None if diag is not None else H, spec.damp, diag, reconstruct=False)
        return store_binarized(spec, r)

    def dequantize(self, qw, out=None):
        return dequantize_binarized(qw, out)

    def nbytes(self, shape, spec):
        out_features, in_features = shape
        groups = spec.groups(in_features)
        n_sal = round(spec.salient_fraction * (in_features // groups)) * groups
        total = (packed_nbytes(out_features * in_features, 1) + packed_nbytes(in_features, 1)
                 + packed_nbytes(out_features * n_sal, 1)
                 + out_features * groups * n_alpha(spec) * FP_BYTES)
        if spec.split:
            total += packed_nbytes(out_features * (in_features - n_sal), 1)
        return total


class GGML(QuantMethod):
    """A llama.cpp tensor type, quantized and read back by ggml itself.

    The weight is rounded to fp16 first (what ``convert_hf_to_gguf.py`` writes before
    ``llama-quantize`` reads it), quantized row by row by ``ggml_quantize_chunk`` with the
    importance matrix of the calibration inputs (mean ``x**2`` per column, as
    ``llama-imatrix``; Q4_K's, Q2_K's and IQ1_M's searches run as SIMD lanes, the same bytes:
    :data:`luq.engines.ggml.LANES`) and
    stored as ggml's own block bytes; the forward pass runs the type's
    ``to_float``. So the stored bytes are the GGUF tensor's, and the dense weight is what
    llama.cpp computes with. Rows a type's block does not divide take
    :func:`luq.quant.ggml_types.stored_type`.
    """

    name = "ggml"
    supported_bits = SUPPORTED_BITS["ggml"]
    uses_calibration = True
    description = "llama.cpp (ggml) types, quantized by ggml: what a GGUF stores"

    def needs(self, spec):
        return StatsNeeds(sq_mean=True)

    def quantize(self, w, spec, stats=None):
        from luq.engines import ggml

        rows, n_per_row = w.shape
        qtype = stored_type(spec.type, n_per_row)
        imatrix = stats.sq_mean if stats is not None else None
        imatrix = imatrix.numpy() if imatrix is not None else None
        if imatrix is None and get_type(qtype).imatrix:
            raise ValueError(f"{qtype} needs an importance matrix: calibration inputs")
        w16 = w.detach().to("cpu", torch.float16).float().numpy()  # (out, in): the GGUF's f16
        blocks = ggml.quantize(w16, qtype, imatrix, threads=torch.get_num_threads())
        # ggml's bytes live where the model does; they are read back through the CPU
        return QuantizedWeight(spec, (rows, n_per_row),
                               {"blocks": torch.from_numpy(blocks).to(w.device)})

    def dequantize(self, qw, out=None):
        from luq.engines import ggml

        rows, n_per_row = qw.shape
        qtype = stored_type(qw.spec.type, n_per_row)
        blocks = qw.tensors["blocks"]
        w = torch.from_numpy(ggml.dequantize(blocks.cpu().numpy(), qtype, n_per_row,
                                             threads=torch.get_num_threads()))
        w = w.to(blocks.device)
        return w if out is None else out.reshape(-1)[: w.numel()].view(w.shape).copy_(w)

    def nbytes(self, shape, spec):
        rows, n_per_row = shape
        return rows * row_nbytes(stored_type(spec.type, n_per_row),
                                            n_per_row)


_METHODS: dict[str, QuantMethod] = {m.name: m for m in (FullPrecision(), RTN(), GPTQ(), AWQ(),
                                                          BiLLM(), GGML())}


def get_method(name: str) -> QuantMethod:
    """The method registered as ``name``; fails with the list of known names."""
    try:
        return _METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown quantization method {name!r}; known: {', '.join(sorted(_METHODS))}"
        ) from None


def method_names() -> list[str]:
    """Registered method names."""
    return sorted(_METHODS)


def quantize_weight(w: torch.Tensor, spec: QuantSpec,
                    stats: InputStats | None = None) -> QuantizedWeight:
    """Quantizes ``w`` (``(out, in)``) as ``spec`` says."""
    return get_method(spec.method).quantize(w, spec, stats)


def dequantize(qw: QuantizedWeight, out: torch.Tensor | None = None) -> torch.Tensor:
    """The float32 weight that ``qw`` stores (written into the float32 buffer ``out`` when
    given: at least ``out * in`` values; the result is a view of it)."""
    return get_method(qw.spec.method).dequantize(qw, out)


def stats_needs(specs) -> StatsNeeds:
    """What any of ``specs`` reads from calibration statistics (empty: none needed)."""
    needs = StatsNeeds()
    for spec in specs:
        needs = needs | get_method(spec.method).needs(spec)
    return needs


def weight_nbytes(shape: tuple[int, int], spec: QuantSpec) -> int:
    """Stored bytes of a ``shape`` weight under ``spec``, from the shape alone."""
    return _nbytes(tuple(shape), spec)


@functools.lru_cache(maxsize=65_536)
def _nbytes(shape: tuple[int, int], spec: QuantSpec) -> int:
    # a pure function of two hashable values, asked for every linear of every plan a
    # slider move prices (about 2,000 times a move): computed once per pair
    return get_method(spec.method).nbytes(shape, spec)


def effective_bits(shape: tuple[int, int], spec: QuantSpec) -> float:
    """Stored bits per weight under ``spec``, metadata included."""
    return weight_nbytes(shape, spec) * 8 / math.prod(shape)
