"""The quantization settings the app offers, grouped: llama.cpp types (what a GGUF stores,
quantized by ggml itself) and the research quantizers (with a stated mapping to GGUF)."""

from __future__ import annotations

import gradio as gr

from luq.defaults import HIGH, LOW, RESEARCH_HIGH, RESEARCH_LOW
from luq.quant.ggml_types import OFFERED, TYPES, ULTRA_LOW, fallbacks
from luq.quant.spec import QuantSpec

RESEARCH = {
    "billm": RESEARCH_LOW,
    "billm-split": QuantSpec("billm", 1, 0, split=True),
    "rtn2": QuantSpec("rtn", 2, 64),
    "rtn1": QuantSpec("rtn", 1, 0),
    "gptq2": QuantSpec("gptq", 2, 64),
    "rtn4": RESEARCH_HIGH,
    "gptq4": QuantSpec("gptq", 4, 64),
    "awq4": QuantSpec("awq", 4, 64),
    "rtn3": QuantSpec("rtn", 3, 64),
}
LLAMA_CPP = {name: QuantSpec.ggml(name) for name in OFFERED}  # keyed by the type's name
SETTINGS = {**LLAMA_CPP, **RESEARCH}
DEFAULT_LOW = next(k for k, v in SETTINGS.items() if v == LOW)  # luq/defaults.py's, by name
DEFAULT_HIGH = next(k for k, v in SETTINGS.items() if v == HIGH)


def _ggml_choice(name: str) -> tuple[str, str]:
    row = TYPES[name]
    return f"llama.cpp {name}: {row.bits_per_weight:.2f} bits, {row.note}", name


LOW_CHOICES = [*(_ggml_choice(n) for n in ULTRA_LOW),
               ("research: BiLLM-style binarization, per-channel scales", "billm"),
               ("research: BiLLM-style binarization with split scales", "billm-split"),
               ("research: RTN 2-bit, group 64", "rtn2"),
               ("research: RTN 1-bit, per-channel", "rtn1"),
               ("research: GPTQ 2-bit, group 64", "gptq2")]
HIGH_CHOICES = [*(_ggml_choice(n) for n in OFFERED if n not in ULTRA_LOW),
                ("research: RTN 4-bit, group 64", "rtn4"),
                ("research: GPTQ 4-bit, group 64", "gptq4"),
                ("research: AWQ 4-bit, group 64", "awq4"),
                ("research: RTN 3-bit, group 64", "rtn3")]


TOWER_CHOICES = [("F16 (as converted)", "F16"), ("llama.cpp Q8_0 (8.5 bits)", "Q8_0"),
                 ("llama.cpp Q4_K (4.5 bits)", "Q4_K")]


def parse_spec(choice: str) -> QuantSpec:
    """The setting a choice names, or a ``gr.Error`` listing the known ones."""
    try:
        return SETTINGS[choice]
    except (KeyError, TypeError):
        raise gr.Error(f"Unknown quantization setting {choice!r}; known: "
                       f"{', '.join(SETTINGS)}.") from None


def fallback_notes(widths, *specs: QuantSpec) -> list[str]:
    """A line per llama.cpp setting whose type cannot hold some of this model's decoder rows
    (``widths``: their lengths), saying what they are stored as; none when every row fits."""
    lines = []
    for spec in dict.fromkeys(specs):
        if spec.method != "ggml":
            continue
        for stored, rows in fallbacks(spec.type, widths).items():
            shown = ", ".join(map(str, rows))
            lines.append(f"{spec.type} blocks of {TYPES[spec.type].block} weights do not divide "
                         f"this model's rows of {shown}: those are stored as {stored} "
                         f"({TYPES[stored].bits_per_weight:.2f} bits), in PyTorch and in the "
                         "GGUF alike.")
    return lines
