"""QuantLinear: a linear layer that stores packed codes and dequantizes in forward."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from luq.quant.registry import dequantize
from luq.quant.spec import QuantizedWeight, QuantSpec


class QuantLinear(nn.Module):
    """Drop-in replacement for ``nn.Linear`` holding a :class:`QuantizedWeight`.

    The stored tensors are buffers named ``q_<name>`` (so ``state_dict`` and ``.to()`` see
    them); their bytes plus the bias are the module's memory. ``cache_dense`` keeps the
    dequantized weight after the first forward: faster, at the cost of a dense copy that is
    not part of the module's stored size (off by default).
    """

    def __init__(self, qweight: QuantizedWeight, bias: torch.Tensor | None = None,
                 cache_dense: bool = False) -> None:
        super().__init__()
        self.spec: QuantSpec = qweight.spec
        self.out_features, self.in_features = qweight.shape
        self._names = tuple(qweight.tensors)
        for name, t in qweight.tensors.items():
            self.register_buffer(f"q_{name}", t)
        self.bias = nn.Parameter(bias.detach().clone(), requires_grad=False) if bias is not None \
            else None
        self.cache_dense = cache_dense
        self._dense: torch.Tensor | None = None

    @property
    def qweight(self) -> QuantizedWeight:
        """The stored weight (views of this module's buffers)."""
        return QuantizedWeight(self.spec, (self.out_features, self.in_features),
                               {n: getattr(self, f"q_{n}") for n in self._names})

    def stored_nbytes(self) -> int:
        """Bytes of the packed weight tensors and the bias."""
        bias = self.bias.numel() * self.bias.element_size() if self.bias is not None else 0
        return self.qweight.nbytes + bias

    def dequantized_weight(self) -> torch.Tensor:
        """The float32 ``(out, in)`` weight."""
        if self._dense is not None:
            return self._dense
        w = dequantize(self.qweight)
        if self.cache_dense:
            self._dense = w
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., in) -> (..., out)
        w = self.dequantized_weight().to(device=x.device, dtype=x.dtype)
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return F.linear(x, w, bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"spec={self.spec.label}"

    @classmethod
    def from_linear(cls, linear: nn.Linear, spec: QuantSpec, stats=None,
                    cache_dense: bool = False) -> QuantLinear:
        """Quantizes an ``nn.Linear`` as ``spec`` says."""
        from luq.quant.registry import quantize_weight

        qw = quantize_weight(linear.weight.detach().float().cpu(), spec, stats)
        qw.tensors = {n: t.to(linear.weight.device) for n, t in qw.tensors.items()}
        return cls(qw, linear.bias, cache_dense=cache_dense)


def replace_linears(block: nn.Module, make: Callable[[str, nn.Linear], nn.Module]) -> None:
    """Replaces every ``nn.Linear`` inside ``block`` by ``make(sub_name, linear)``, in place.

    ``sub_name`` is the linear's name relative to ``block`` (``self_attn.q_proj``).
    """
    for sub, module in list(block.named_modules()):
        if not isinstance(module, nn.Linear):
            continue
        parent_name, _, child = sub.rpartition(".")
        parent = block.get_submodule(parent_name) if parent_name else block
        setattr(parent, child, make(sub, module))
