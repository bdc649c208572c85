"""Quantization core: pure primitives, bit packing, a quantized linear and a registry."""

from luq.quant.linear import QuantLinear
from luq.quant.registry import (
    effective_bits,
    get_method,
    method_names,
    quantize_weight,
    weight_nbytes,
)
from luq.quant.spec import QuantizedWeight, QuantSpec
from luq.quant.stats import InputStats

__all__ = [
    "InputStats",
    "QuantLinear",
    "QuantSpec",
    "QuantizedWeight",
    "effective_bits",
    "get_method",
    "method_names",
    "quantize_weight",
    "weight_nbytes",
]
