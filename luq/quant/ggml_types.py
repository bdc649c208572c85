"""llama.cpp's (ggml's) tensor types: one table that quantizing, accounting, export and the UI
all read.

Each row states a type's block (weights per block) and its bytes per block, which equal
``ggml_blck_size`` / ``ggml_row_size`` of the ggml library (a test checks every row), so memory
is counted from shapes alone, without loading ggml; whether ``llama-quantize`` wants an
importance matrix for it; and where rows the block does not divide go (:func:`stored_type`):
first to a type of the same bits per weight with a smaller block, else to llama.cpp's own
``tensor_type_fallback``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GGMLType:
    """One ggml tensor type.

    Attributes:
        name: ggml's name (``"IQ1_M"``).
        block: weights per block; a row's length must be a multiple of it.
        block_bytes: bytes of one block.
        bits: the nominal width a plan counts it at (1 for IQ1_M, 4 for Q4_K), for rules that
            read widths (ultra-low means at most 2).
        offered: a quantization setting the explorer offers.
        imatrix: ``llama-quantize`` refuses it without an importance matrix.
        same_size: a type of the same bits per weight with a smaller block, for rows
            ``block`` does not divide (the embedded model's second edition).
        fallback: llama.cpp's ``tensor_type_fallback`` for such rows.
        note: one line for setting lists.
    """

    name: str
    block: int
    block_bytes: int
    bits: int
    offered: bool = False
    imatrix: bool = False
    same_size: str | None = None
    fallback: str | None = None
    note: str = ""

    @property
    def bits_per_weight(self) -> float:
        """Stored bits per weight, scales included (IQ1_M 1.75, Q4_K 4.5)."""
        return self.block_bytes * 8 / self.block


_ROWS = (
    GGMLType("F32", 1, 4, 32),
    GGMLType("F16", 1, 2, 16),
    GGMLType("Q4_0", 32, 18, 4),
    GGMLType("Q4_1", 32, 20, 4),
    GGMLType("Q5_0", 32, 22, 5),
    GGMLType("Q5_1", 32, 24, 5),
    GGMLType("IQ4_NL", 32, 18, 4),
    GGMLType("Q1_0", 128, 18, 1, offered=True, fallback="Q4_0",
             note="sign binarization, one fp16 scale per 128 weights"),
    GGMLType("TQ1_0", 256, 54, 1, offered=True, fallback="Q4_0",
             note="ternary (BitNet-style), 1.69 bits"),
    GGMLType("IQ1_S", 256, 50, 1, offered=True, imatrix=True, same_size="Q1_0",
             fallback="IQ4_NL", note="i-quant grid, importance matrix"),
    GGMLType("IQ1_M", 256, 56, 1, offered=True, imatrix=True, same_size="Q1_0",
             fallback="IQ4_NL", note="i-quant grid, importance matrix (the paper's export)"),
    GGMLType("TQ2_0", 256, 66, 2, offered=True, fallback="Q4_0", note="ternary, 2.06 bits"),
    GGMLType("IQ2_XXS", 256, 66, 2, offered=True, imatrix=True, fallback="IQ4_NL",
             note="i-quant grid, importance matrix"),
    GGMLType("IQ2_XS", 256, 74, 2, offered=True, imatrix=True, fallback="IQ4_NL",
             note="i-quant grid, importance matrix"),
    GGMLType("Q2_K", 256, 84, 2, offered=True, fallback="Q4_0", note="k-quant"),
    GGMLType("Q3_K", 256, 110, 3, offered=True, fallback="Q4_0", note="k-quant"),
    GGMLType("IQ4_XS", 256, 136, 4, offered=True, fallback="IQ4_NL", note="i-quant"),
    GGMLType("Q4_K", 256, 144, 4, offered=True, same_size="Q4_0", fallback="Q5_0",
             note="k-quant (Q4_K_M's type)"),
    GGMLType("Q5_K", 256, 176, 5, offered=True, same_size="Q5_0", fallback="Q5_1",
             note="k-quant"),
    GGMLType("Q6_K", 256, 210, 6, offered=True, fallback="Q8_0", note="k-quant"),
    GGMLType("Q8_0", 32, 34, 8, offered=True, note="8-bit, one scale per 32"),
)
TYPES: dict[str, GGMLType] = {t.name: t for t in _ROWS}
OFFERED = tuple(t.name for t in _ROWS if t.offered)
"""The types a quantization setting may be, lowest bits first."""
ULTRA_LOW = tuple(n for n in OFFERED if TYPES[n].bits <= 2)
NEEDS_IMATRIX = tuple(t.name for t in _ROWS if t.imatrix)


def get_type(name: str) -> GGMLType:
    """The row of ``name``; fails with the list of known types."""
    try:
        return TYPES[name]
    except KeyError:
        raise ValueError(f"unknown ggml type {name!r}; known: {', '.join(TYPES)}") from None


def stored_type(name: str, n_per_row: int, keep_size: bool = True) -> str:
    """The type a row of ``n_per_row`` weights planned as ``name`` is stored as.

    ``name`` itself when its block divides the row; else, with ``keep_size``, the same-size
    type (IQ1_M/IQ1_S -> Q1_0, Q4_K -> Q4_0, Q5_K -> Q5_0) where its block divides; else
    llama.cpp's fallback (IQ1_M -> IQ4_NL, Q2_K -> Q4_0, Q6_K -> Q8_0); else F16.
    """
    row = get_type(name)
    if n_per_row % row.block == 0:
        return name
    same = row.same_size if keep_size else None
    if same is not None and n_per_row % TYPES[same].block == 0:
        return same
    fallback = row.fallback or "F16"
    return fallback if n_per_row % TYPES[fallback].block == 0 else "F16"


def row_nbytes(name: str, n_per_row: int) -> int:
    """Bytes of one row of ``n_per_row`` weights stored as ``name`` (whole blocks)."""
    row = get_type(name)
    if n_per_row % row.block:
        raise ValueError(f"{name} needs rows of a multiple of {row.block} weights, "
                         f"got {n_per_row}")
    return n_per_row // row.block * row.block_bytes


def fallbacks(name: str, widths) -> dict[str, tuple[int, ...]]:
    """Where a type does not apply as planned on a model: stored type -> the row widths
    (``n_per_row``) that take it instead of ``name`` (empty when every row holds ``name``)."""
    out: dict[str, list[int]] = {}
    for width in sorted(set(widths)):
        stored = stored_type(name, width)
        if stored != name:
            out.setdefault(stored, []).append(width)
    return {k: tuple(v) for k, v in out.items()}
