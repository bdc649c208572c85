"""Quantization core: pure primitives, bit packing, a quantized linear and a registry."""

from luq.quant.dense import DenseCache
from luq.quant.linear import QuantLinear
from luq.quant.registry import (
    dequantize,
    effective_bits,
    get_method,
    method_names,
    quantize_weight,
    stats_needs,
    weight_nbytes,
)
from luq.quant.spec import FULL_PRECISION, QuantizedWeight, QuantSpec
from luq.quant.stats import InputStats, StatsNeeds

__all__ = [
    "FULL_PRECISION",
    "DenseCache",
    "InputStats",
    "QuantLinear",
    "QuantSpec",
    "QuantizedWeight",
    "StatsNeeds",
    "dequantize",
    "effective_bits",
    "get_method",
    "method_names",
    "quantize_weight",
    "stats_needs",
    "weight_nbytes",
]
