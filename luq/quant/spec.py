"""QuantSpec: how one weight matrix is stored, and QuantizedWeight: the stored result."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

# Code widths each method stores; the registry's methods read their capabilities from here, so
# a spec validates itself without importing the registry.
SUPPORTED_BITS: dict[str, tuple[int, ...]] = {
    "fp16": (16,),
    "rtn": (1, 2, 3, 4, 5, 6, 7, 8),
    "gptq": (2, 3, 4, 5, 6, 7, 8),
    "awq": (2, 3, 4, 8),
    "billm": (1,),
    "ggml": (1, 2, 3, 4, 5, 6, 8),  # the nominal width of its type (luq.quant.ggml_types)
}


@dataclass(frozen=True)
class QuantSpec:
    """How to quantize a linear layer's weight.

    Hashable, so it keys the cache of quantized layer variants.

    Attributes:
        method: registry name: ``rtn``, ``gptq``, ``awq``, ``billm``, ``ggml`` (a llama.cpp
            type, quantized by ggml itself) or ``fp16`` (kept).
        bits: nominal code width (``billm`` is 1; ``fp16`` is 16; ``ggml``: its type's).
            Effective bits, with scales and bitmaps included, come from the stored tensors.
        group_size: input columns sharing one scale/zero; 0 means one group per row
            (per-channel); ``ggml``: its type's block.
        damp: GPTQ dampening, as a fraction of the Hessian's mean diagonal.
        act_order: GPTQ processes columns by descending Hessian diagonal (static groups).
        salient_fraction: ``billm``: share of input columns binarized twice (residual).
        split: ``billm``: binarize the other weights with two magnitude-split scales; costs a
            membership bit per weight.
        type: ``ggml``: the ggml type name (``"IQ1_M"``, ``"Q4_K"``); build such a spec with
            :meth:`ggml`. Empty for every other method.
    """

    method: str = "rtn"
    bits: int = 4
    group_size: int = 64
    damp: float = 0.01
    act_order: bool = False
    salient_fraction: float = 0.05
    split: bool = True
    type: str = ""

    @classmethod
    def ggml(cls, name: str) -> QuantSpec:
        """A llama.cpp type as a setting (``QuantSpec.ggml("IQ1_M")``): bits and block from
        the type table."""
        from luq.quant.ggml_types import OFFERED, get_type

        row = get_type(name)
        if name not in OFFERED:
            raise ValueError(f"{name} is not offered as a setting; offered: {', '.join(OFFERED)}")
        return cls("ggml", row.bits, row.block, type=name)

    def __post_init__(self) -> None:
        if self.method not in SUPPORTED_BITS:
            raise ValueError(f"unknown quantization method {self.method!r}; known: "
                             f"{', '.join(sorted(SUPPORTED_BITS))}")
        if self.method == "ggml":
            from luq.quant.ggml_types import OFFERED, get_type

            if self.type not in OFFERED:
                raise ValueError(f"ggml needs a type; offered: {', '.join(OFFERED)}")
            row = get_type(self.type)
            if (self.bits, self.group_size) != (row.bits, row.block):
                raise ValueError(f"{self.type} is {row.bits} bits in blocks of {row.block}, "
                                 f"not {self.bits} / {self.group_size}: use "
                                 f"QuantSpec.ggml({self.type!r})")
            return
        if self.type:
            raise ValueError(f"type {self.type!r} is for method ggml, not {self.method}")
        supported = SUPPORTED_BITS[self.method]
        if self.bits not in supported:
            raise ValueError(
                f"{self.method} does not support {self.bits} bits; "
                f"supported: {', '.join(map(str, supported))}"
            )
        if self.group_size < 0:
            raise ValueError(f"group_size must be >= 0 (0 = per-channel), got {self.group_size}")
        if not 0.0 < self.damp < 1.0:
            raise ValueError(f"damp must lie in (0, 1), got {self.damp}")
        if not 0.0 <= self.salient_fraction < 1.0:
            raise ValueError(f"salient_fraction must lie in [0, 1), got {self.salient_fraction}")

    @property
    def label(self) -> str:
        """Short human name, e.g. ``rtn-4b-g64``, ``billm-1b-pc-split`` or ``fp16``."""
        if self.method == "fp16":
            return "fp16"
        if self.method == "ggml":
            return self.type
        group = f"g{self.group_size}" if self.group_size else "pc"
        split = "-split" if self.method == "billm" and self.split else ""
        return f"{self.method}-{self.bits}b-{group}{split}"

    def groups(self, in_features: int) -> int:
        """Number of column groups of a row with ``in_features`` inputs."""
        size = self.group_size or in_features
        if in_features % size:
            raise ValueError(
                f"group_size {size} does not divide in_features {in_features}; "
                "choose a divisor or 0 for per-channel"
            )
        return in_features // size


@dataclass
class QuantizedWeight:
    """A weight matrix as stored: packed codes plus metadata tensors.

    Attributes:
        spec: how it was quantized.
        shape: ``(out_features, in_features)`` of the original weight.
        tensors: every stored tensor by name (packed codes, scales, zeros, bitmaps). Its
            bytes are the weight's memory: nothing else is kept.
    """

    spec: QuantSpec
    shape: tuple[int, int]
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """Bytes of all stored tensors."""
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    @property
    def effective_bits(self) -> float:
        """Stored bits per weight, metadata included."""
        return self.nbytes * 8 / (self.shape[0] * self.shape[1])


FULL_PRECISION = QuantSpec("fp16", 16, 0)  # a block or part kept unquantized
