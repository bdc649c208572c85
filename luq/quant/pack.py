"""Bit packing: n-bit integer codes <-> a dense little-endian bit stream of bytes.

Any width from 1 to 8 bits packs exactly ``ceil(numel * bits / 8)`` bytes, whatever the
tensor's shape (odd shapes included), so memory accounting is one formula:
:func:`packed_nbytes`. Codes are laid out row-major; bit ``k`` of code ``i`` lands at
stream position ``i * bits + k``.
"""

from __future__ import annotations

import math

import torch

SUPPORTED_PACK_BITS = (1, 2, 3, 4, 5, 6, 7, 8)

_BIT_WEIGHTS = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.int32)


def packed_nbytes(numel: int, bits: int) -> int:
    """Bytes taken by ``numel`` codes of ``bits`` bits once packed."""
    _check_bits(bits)
    return math.ceil(numel * bits / 8)


def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Packs integer codes in ``[0, 2**bits)`` into a flat uint8 tensor.

    Args:
        codes: integer tensor of any shape, e.g. ``(out_features, in_features)``.
        bits: width of each code, 1..8.

    Returns:
        uint8 tensor of shape ``(packed_nbytes(codes.numel(), bits),)``.

    Example:
        ``pack(torch.tensor([1, 0, 3]), 2)`` holds the 6-bit stream ``01 00 11`` (low bit
        first) in one byte: ``tensor([49], dtype=torch.uint8)``.
    """
    _check_bits(bits)
    flat = codes.reshape(-1).to(torch.int32)
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= 2**bits):
        raise ValueError(f"codes must lie in [0, {2**bits}) for {bits}-bit packing")
    if bits == 8:
        return flat.to(torch.uint8)
    if 8 % bits == 0:  # fast path: whole codes per byte
        per = 8 // bits
        pad = (-flat.numel()) % per
        if pad:
            flat = torch.cat([flat, flat.new_zeros(pad)])
        shifts = torch.arange(per, dtype=torch.int32, device=flat.device) * bits
        return (flat.reshape(-1, per) << shifts).sum(-1).to(torch.uint8)
    shifts = torch.arange(bits, dtype=torch.int32, device=flat.device)
    stream = ((flat.unsqueeze(-1) >> shifts) & 1).reshape(-1)  # (numel * bits,)
    pad = (-stream.numel()) % 8
    if pad:
        stream = torch.cat([stream, stream.new_zeros(pad)])
    weights = _BIT_WEIGHTS.to(flat.device)
    return (stream.reshape(-1, 8) * weights).sum(-1).to(torch.uint8)


def unpack(packed: torch.Tensor, bits: int, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """Inverse of :func:`pack`: returns int64 codes of ``shape``."""
    _check_bits(bits)
    numel = math.prod(shape)
    if packed.numel() != packed_nbytes(numel, bits):
        raise ValueError(
            f"{packed.numel()} packed bytes cannot hold {numel} codes of {bits} bits "
            f"(expected {packed_nbytes(numel, bits)})"
        )
    if bits == 8:
        return packed.to(torch.int64).reshape(shape)
    if 8 % bits == 0:
        per = 8 // bits
        shifts = torch.arange(per, dtype=torch.int32, device=packed.device) * bits
        codes = (packed.to(torch.int32).unsqueeze(-1) >> shifts) & (2**bits - 1)
        return codes.reshape(-1)[:numel].to(torch.int64).reshape(shape)
    byte_bits = torch.arange(8, dtype=torch.int32, device=packed.device)
    stream = ((packed.to(torch.int32).unsqueeze(-1) >> byte_bits) & 1).reshape(-1)
    stream = stream[: numel * bits].reshape(numel, bits).to(torch.int64)
    weights = (1 << torch.arange(bits, dtype=torch.int64, device=packed.device))
    return (stream * weights).sum(-1).reshape(shape)


def _check_bits(bits: int) -> None:
    if bits not in SUPPORTED_PACK_BITS:
        raise ValueError(f"cannot pack {bits}-bit codes; supported widths: {SUPPORTED_PACK_BITS}")
