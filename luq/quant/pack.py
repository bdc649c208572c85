"""Bit packing: n-bit integer codes <-> a dense little-endian bit stream of bytes.

Any width from 1 to 8 bits packs exactly ``ceil(numel * bits / 8)`` bytes, whatever the
tensor's shape (odd shapes included), so memory accounting is one formula:
:func:`packed_nbytes`. Codes are laid out row-major; bit ``k`` of code ``i`` lands at
stream position ``i * bits + k``.

Widths that divide 8 (1, 2, 4) pack whole codes per byte with uint8 shifts (1 bit: one int64
multiply per 8 codes); the others (3, 5, 6, 7) pack 8 codes into ``bits`` bytes through one
int64 word per 8 codes (little-endian bytes of ``sum_j code_j << (j * bits)``).
"""

from __future__ import annotations

import functools
import math
import sys

import torch

SUPPORTED_PACK_BITS = (1, 2, 3, 4, 5, 6, 7, 8)


def packed_nbytes(numel: int, bits: int) -> int:
    """Bytes taken by ``numel`` codes of ``bits`` bits once packed."""
    _check_bits(bits)
    return math.ceil(numel * bits / 8)


def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Packs integer codes in ``[0, 2**bits)`` into a flat uint8 tensor.

    Args:
        codes: integer (or bool) tensor of any shape, e.g. ``(out_features, in_features)``.
        bits: width of each code, 1..8.

    Returns:
        uint8 tensor of shape ``(packed_nbytes(codes.numel(), bits),)``.

    Example:
        ``pack(torch.tensor([1, 0, 3]), 2)`` holds the 6-bit stream ``01 00 11`` (low bit
        first) in one byte: ``tensor([49], dtype=torch.uint8)``.
    """
    _check_bits(bits)
    flat = codes.reshape(-1)
    if flat.dtype != torch.bool and flat.numel():
        lo, hi = torch.aminmax(flat)
        if int(lo) < 0 or int(hi) >= 2**bits:
            raise ValueError(f"codes must lie in [0, {2**bits}) for {bits}-bit packing")
    flat = flat.to(torch.uint8)
    if bits == 8:
        return flat.clone() if flat.data_ptr() == codes.data_ptr() else flat
    per = 8 // bits if 8 % bits == 0 else 8  # codes per packed word
    pad = (-flat.numel()) % per
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    lanes = flat.view(-1, per)  # (words, per)
    if bits == 1 and sys.byteorder == "little":  # 8 bytes of 0/1 -> 1 byte, one multiply
        word = lanes.contiguous().view(torch.int64).reshape(-1)
        return ((word * _GATHER_BITS) >> 56).to(torch.uint8)
    if 8 % bits == 0:  # one byte per word
        out = lanes[:, 0].clone()
        for j in range(1, per):
            out |= lanes[:, j] << (j * bits)
        return out
    shifts = torch.arange(per, dtype=torch.int64, device=flat.device) * bits
    word = (lanes.to(torch.int64) << shifts).sum(1)  # 8 codes -> `bits` bytes of one int64
    out = _le_bytes(word)[:, :bits].reshape(-1)
    return out[: packed_nbytes(codes.numel(), bits)].clone()


def unpack(packed: torch.Tensor, bits: int, shape: tuple[int, ...] | torch.Size,
           dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """Inverse of :func:`pack`: codes of ``shape`` as ``dtype`` (uint8 is the cheapest)."""
    _check_bits(bits)
    numel = math.prod(shape)
    if packed.numel() != packed_nbytes(numel, bits):
        raise ValueError(
            f"{packed.numel()} packed bytes cannot hold {numel} codes of {bits} bits "
            f"(expected {packed_nbytes(numel, bits)})"
        )
    if bits == 8:
        return packed.to(dtype).reshape(shape)
    mask = 2**bits - 1
    if bits == 1 and sys.byteorder == "little":
        codes = _spread_bits(packed)
    elif 8 % bits == 0:
        per = 8 // bits
        codes = torch.empty(packed.numel(), per, dtype=torch.uint8, device=packed.device)
        torch.bitwise_and(packed, mask, out=codes[:, 0])
        for j in range(1, per - 1):
            torch.bitwise_and(packed >> (j * bits), mask, out=codes[:, j])
        torch.bitwise_right_shift(packed, (per - 1) * bits, out=codes[:, per - 1])
    else:  # `bits` bytes per 8 codes
        words = math.ceil(packed.numel() / bits)
        padded = torch.zeros(words * bits, dtype=torch.uint8, device=packed.device)
        padded[: packed.numel()] = packed
        raw = torch.zeros(words, 8, dtype=torch.uint8, device=packed.device)
        raw[:, :bits] = padded.view(words, bits)
        if sys.byteorder != "little":
            raw = raw.flip(1)
        word = raw.view(torch.int64).reshape(-1)
        codes = torch.empty(words, 8, dtype=torch.uint8, device=packed.device)
        for j in range(8):
            codes[:, j] = (word >> (j * bits)) & mask
    return codes.reshape(-1)[:numel].to(dtype).reshape(shape)


def unpack_float(packed: torch.Tensor, bits: int, numel: int,
                 out: torch.Tensor | None = None) -> torch.Tensor:
    """Codes as a flat float32 tensor of ``numel`` values (into ``out`` when given).

    2- and 4-bit codes go straight from each byte lane into the float output (no strided
    uint8 intermediate, the slow part of :func:`unpack`).
    """
    dst = out.reshape(-1)[:numel] if out is not None else \
        torch.empty(numel, device=packed.device)
    per = 8 // bits if bits in (2, 4) else 0
    if per and numel % per == 0 and packed.numel() == numel // per:
        lanes = dst.view(-1, per)  # (bytes, codes per byte)
        lanes[:, 0].copy_(packed & (2**bits - 1))
        for j in range(1, per - 1):
            lanes[:, j].copy_((packed >> (j * bits)) & (2**bits - 1))
        lanes[:, per - 1].copy_(packed >> ((per - 1) * bits))
        return dst
    return dst.copy_(unpack(packed, bits, (numel,), torch.uint8))


def unpack_signs(packed: torch.Tensor, numel: int,
                 out: torch.Tensor | None = None) -> torch.Tensor:
    """1-bit codes as flat float32 signs: bit 1 -> +1.0, bit 0 -> -1.0 (into ``out``).

    One gather from a 256-entry table (byte -> its 8 signs).
    """
    dst = out.reshape(-1)[:numel] if out is not None else \
        torch.empty(numel, device=packed.device)
    if numel % 8 == 0 and packed.numel() == numel // 8:
        table = _sign_table(str(packed.device))  # (256, 8)
        torch.index_select(table, 0, packed.int(), out=dst.view(-1, 8))
        return dst
    return unpack_float(packed, 1, numel, dst).mul_(2).sub_(1)


@functools.lru_cache(maxsize=8)
def _sign_table(device: str) -> torch.Tensor:
    bits = (torch.arange(256).unsqueeze(1) >> torch.arange(8)) & 1  # (256, 8), low bit first
    return (bits.float() * 2 - 1).to(device)


# Multiplying 8 bytes of 0/1 (one int64, little-endian) by this moves bit 8j to bit 56 + j.
_GATHER_BITS = 0x0102040810204080
# Byte -> 8 bytes holding its bits (the classic multiply-mask-add spread; constants signed).
_SPREAD = (0x0101010101010101, 0x8040201008040201 - 2**64, 0x00406070787C7E7F,
           0x0101010101010101)


def _spread_bits(packed: torch.Tensor) -> torch.Tensor:
    """``(n,)`` bytes -> ``(8 n,)`` uint8 0/1, bit ``j`` of byte ``i`` at ``8 i + j``."""
    word = packed.to(torch.int64)
    word.mul_(_SPREAD[0]).bitwise_and_(_SPREAD[1]).add_(_SPREAD[2])
    word.bitwise_right_shift_(7).bitwise_and_(_SPREAD[3])
    return word.view(torch.uint8)


def _le_bytes(word: torch.Tensor) -> torch.Tensor:
    """``(n,)`` int64 -> ``(n, 8)`` uint8, least significant byte first."""
    raw = word.contiguous().view(torch.uint8).reshape(-1, 8)
    return raw if sys.byteorder == "little" else raw.flip(1)


def _check_bits(bits: int) -> None:
    if bits not in SUPPORTED_PACK_BITS:
        raise ValueError(f"cannot pack {bits}-bit codes; supported widths: {SUPPORTED_PACK_BITS}")
