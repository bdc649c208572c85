"""QuantLinear: a linear layer that stores packed codes and dequantizes in forward."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from luq.quant.dense import DenseCache
from luq.quant.registry import dequantize, quantize_weight
from luq.quant.spec import QuantizedWeight, QuantSpec


class QuantLinear(nn.Module):
    """Drop-in replacement for ``nn.Linear`` holding a :class:`QuantizedWeight`.

    The stored tensors are buffers named ``q_<name>`` (so ``state_dict`` and ``.to()`` see
    them); their bytes plus the bias are the module's memory. The forward pass dequantizes
    into the input's dtype (float32 on CPU, bf16/fp16 on GPU), where the buffers are.

    ``cache_dense`` says what happens to the dense weight after a forward pass: ``False``
    (default) rebuilds it every time; ``True`` keeps it in the module for good (fast, a dense
    copy per layer); a :class:`~luq.quant.dense.DenseCache` shares one bounded cache (and one
    scratch buffer) between the layers of a model.
    """

    def __init__(self, qweight: QuantizedWeight, bias: torch.Tensor | None = None,
                 cache_dense: bool | DenseCache = False) -> None:
        super().__init__()
        self.spec: QuantSpec = qweight.spec
        self.out_features, self.in_features = qweight.shape
        self._names = tuple(qweight.tensors)
        for name, t in qweight.tensors.items():
            self.register_buffer(f"q_{name}", t)
        self.bias = nn.Parameter(bias.detach(), requires_grad=False) if bias is not None \
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

    def dequantize_as(self, dtype: torch.dtype, out: torch.Tensor | None = None) -> torch.Tensor:
        """The ``(out, in)`` weight in ``dtype`` (computed in float32 where the buffers are),
        written into the flat buffer ``out`` of that dtype when given."""
        if dtype == torch.float32:
            return dequantize(self.qweight, out)
        w = dequantize(self.qweight)
        return w.to(dtype) if out is None else out[: w.numel()].view(w.shape).copy_(w)

    def dequantized_weight(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The ``(out, in)`` weight in ``dtype``, cached as ``cache_dense`` says."""
        device = getattr(self, f"q_{self._names[0]}").device
        if isinstance(self.cache_dense, DenseCache):
            return self.cache_dense.weight(self, dtype, device)
        if self._dense is not None and self._dense.dtype == dtype:
            return self._dense
        w = self.dequantize_as(dtype)
        if self.cache_dense:
            self._dense = w
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., in) -> (..., out)
        w = self.dequantized_weight(x.dtype)
        if w.device != x.device:
            w = w.to(x.device)
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return F.linear(x, w, bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"spec={self.spec.label}"

    @classmethod
    def from_linear(cls, linear: nn.Linear, spec: QuantSpec, stats=None,
                    cache_dense: bool | DenseCache = False) -> QuantLinear:
        """Quantizes an ``nn.Linear`` as ``spec`` says, where its weight is (float32 math).

        The bias is shared with ``linear`` (not copied): full precision is kept once.
        """
        qw = quantize_weight(linear.weight.detach(), spec, stats)
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
