"""Quantization methods by name: what each needs, what it supports, how it stores.

Each method turns a weight matrix (plus optional calibration statistics) into a
:class:`~luq.quant.spec.QuantizedWeight`, reads it back, and states its stored bytes from
the shape alone (so memory accounting needs no quantization and works on meta tensors).
"""

from __future__ import annotations

import math

import torch

from luq.quant import rtn
from luq.quant.awq import awq_search_scale
from luq.quant.binarize import binarize
from luq.quant.gptq import gptq_quantize
from luq.quant.pack import pack, packed_nbytes, unpack
from luq.quant.spec import SUPPORTED_BITS, QuantizedWeight, QuantSpec
from luq.quant.stats import InputStats

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

    def dequantize(self, qw: QuantizedWeight) -> torch.Tensor:
        raise NotImplementedError

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

    def dequantize(self, qw):
        return qw.tensors["weight"].float()

    def nbytes(self, shape, spec):
        return shape[0] * shape[1] * FP_BYTES


class RTN(QuantMethod):
    name = "rtn"
    supported_bits = SUPPORTED_BITS["rtn"]
    description = "group-wise asymmetric round-to-nearest"

    def quantize(self, w, spec, stats=None):
        spec.groups(w.shape[1])
        return rtn.store(spec, *rtn.rtn_quantize(w, spec.bits, spec.group_size))

    def dequantize(self, qw):
        return rtn.dequantize_stored(qw)

    def nbytes(self, shape, spec):
        return rtn.stored_nbytes(shape, spec)


class GPTQ(RTN):
    name = "gptq"
    supported_bits = SUPPORTED_BITS["gptq"]
    requires_calibration = True
    uses_calibration = True
    description = "GPTQ: Hessian-aware error feedback (Frantar et al., 2022)"

    def quantize(self, w, spec, stats=None):
        spec.groups(w.shape[1])
        H = self._need_stats(stats).hessian
        codes, scale, zero = gptq_quantize(w, H, spec.bits, spec.group_size, spec.damp,
                                           spec.act_order)
        return rtn.store(spec, codes, scale, zero)


class AWQ(RTN):
    name = "awq"
    supported_bits = SUPPORTED_BITS["awq"]
    requires_calibration = True
    uses_calibration = True
    description = "AWQ-style activation-aware channel scaling, then RTN (Lin et al., 2023)"

    def quantize(self, w, spec, stats=None):
        spec.groups(w.shape[1])
        x = self._need_stats(stats).samples
        s = awq_search_scale(w, x, spec.bits, spec.group_size)
        codes, scale, zero = rtn.rtn_quantize(w.float() * s, spec.bits, spec.group_size)
        return rtn.store(spec, codes, scale, zero, in_scale=s)

    def dequantize(self, qw):
        return rtn.dequantize_stored(qw) / qw.tensors["in_scale"].float()

    def nbytes(self, shape, spec):
        return rtn.stored_nbytes(shape, spec) + shape[1] * FP_BYTES


class BiLLM(QuantMethod):
    name = "billm"
    supported_bits = SUPPORTED_BITS["billm"]
    uses_calibration = True
    description = "BiLLM-style binarization: residual salient columns, split scales"

    def quantize(self, w, spec, stats=None):
        groups = spec.groups(w.shape[1])
        H = stats.hessian if stats is not None and stats.rows else None
        r = binarize(w, spec.group_size, spec.salient_fraction, spec.split, H, spec.damp)
        tensors = {
            "sign": pack(r["sign"].to(torch.int64), 1),
            "salient": pack(r["salient"].to(torch.int64), 1),
            "residual": pack(r["residual"].to(torch.int64), 1),
            "alpha": r["alpha"][..., : self._n_alpha(spec)].reshape(w.shape[0], groups, -1).half(),
        }
        if spec.split:
            tensors["sparse"] = pack(r["sparse"].to(torch.int64), 1)
        return QuantizedWeight(spec, tuple(w.shape), tensors)

    def dequantize(self, qw):
        out_features, in_features = qw.shape
        salient = unpack(qw.tensors["salient"], 1, (in_features,)).bool()
        n_sal = int(salient.sum())
        sign = unpack(qw.tensors["sign"], 1, qw.shape).float() * 2 - 1
        alpha = qw.tensors["alpha"].float()  # (out, groups, n_alpha)
        a = [rtn.expand_groups(alpha[..., j], in_features) for j in range(alpha.shape[-1])]
        w = sign * a[2]
        res = unpack(qw.tensors["residual"], 1, (out_features, n_sal)).float() * 2 - 1
        w[:, salient] = a[0][:, salient] * sign[:, salient] + a[1][:, salient] * res
        if qw.spec.split:
            rest = ~salient
            sparse = unpack(qw.tensors["sparse"], 1, (out_features, in_features - n_sal)).bool()
            w[:, rest] = sign[:, rest] * torch.where(sparse, a[3][:, rest], a[2][:, rest])
        return w

    def nbytes(self, shape, spec):
        out_features, in_features = shape
        groups = spec.groups(in_features)
        n_sal = round(spec.salient_fraction * (in_features // groups)) * groups
        total = (packed_nbytes(out_features * in_features, 1) + packed_nbytes(in_features, 1)
                 + packed_nbytes(out_features * n_sal, 1)
                 + out_features * groups * self._n_alpha(spec) * FP_BYTES)
        if spec.split:
            total += packed_nbytes(out_features * (in_features - n_sal), 1)
        return total

    @staticmethod
    def _n_alpha(spec: QuantSpec) -> int:
        return 4 if spec.split else 3


_METHODS: dict[str, QuantMethod] = {m.name: m for m in (FullPrecision(), RTN(), GPTQ(), AWQ(),
                                                          BiLLM())}


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


def dequantize(qw: QuantizedWeight) -> torch.Tensor:
    """The float32 weight that ``qw`` stores."""
    return get_method(qw.spec.method).dequantize(qw)


def weight_nbytes(shape: tuple[int, int], spec: QuantSpec) -> int:
    """Stored bytes of a ``shape`` weight under ``spec``, from the shape alone."""
    return get_method(spec.method).nbytes(tuple(shape), spec)


def effective_bits(shape: tuple[int, int], spec: QuantSpec) -> float:
    """Stored bits per weight under ``spec``, metadata included."""
    return weight_nbytes(shape, spec) * 8 / math.prod(shape)
