"""Group-wise asymmetric round-to-nearest (RTN) quantization.

A weight ``w`` in a group with scale ``s`` and zero point ``z`` (both fp16, ``z`` in code
units) is stored as the code ``q = clamp(round(w / s + z), 0, 2**bits - 1)`` and read back as
``(q - z) * s``. The group's range is its own min..max, so even 1 bit keeps both signs.
"""

from __future__ import annotations

import torch

from luq.quant.pack import pack, packed_nbytes, unpack_float
from luq.quant.spec import QuantizedWeight, QuantSpec

# Bytes of per-group metadata: one fp16 scale and one fp16 zero point.
GROUP_META_BYTES = 4


def group_params(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point of each row of ``w`` (one row = one group).

    Args:
        w: ``(rows, group)`` float tensor.
        bits: code width.

    Returns:
        ``(scale, zero)``, each ``(rows, 1)`` float32 but rounded through fp16, exactly as
        stored.
    """
    maxq = 2**bits - 1
    w = w.float()
    wmin, wmax = w.amin(dim=1, keepdim=True), w.amax(dim=1, keepdim=True)
    scale = ((wmax - wmin) / maxq).clamp(min=1e-8).half().clamp(min=6e-8).float()
    zero = (-wmin / scale).half().float()
    return scale, zero


def quantize(w: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, maxq: int) -> torch.Tensor:
    """Integer codes of ``w`` (broadcast against ``scale``/``zero``), in ``[0, maxq]``."""
    return torch.clamp(torch.round(w / scale + zero), 0, maxq)


def dequantize_codes(q: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    """Float values of codes ``q`` under ``scale``/``zero`` (broadcast)."""
    return (q - zero) * scale


# Weights per step of rtn_quantize: its float temporaries stay in cache and are reused.
_CHUNK = 1 << 22


def rtn_quantize(w: torch.Tensor, bits: int, group_size: int) -> tuple[torch.Tensor, ...]:
    """Group-wise RTN of a weight matrix.

    Args:
        w: ``(out, in)`` weight.
        bits: 1..8.
        group_size: columns per group; 0 for per-channel.

    Returns:
        ``(codes, scale, zero)``: codes ``(out, in)`` uint8; scale and zero ``(out, groups)``
        float32 (fp16 values).
    """
    out_features, in_features = w.shape
    size = group_size or in_features
    groups = in_features // size
    maxq = 2**bits - 1
    wg = w.reshape(out_features * groups, size)  # (out * groups, size)
    scale, zero = group_params(wg, bits)
    codes = torch.empty(wg.shape, dtype=torch.uint8, device=w.device)
    rows = max(1, _CHUNK // size)
    buf = torch.empty(min(rows, wg.shape[0]), size, device=w.device)
    for start in range(0, wg.shape[0], rows):
        end = min(start + rows, wg.shape[0])
        q = torch.div(wg[start:end], scale[start:end], out=buf[: end - start])
        q.add_(zero[start:end]).round_().clamp_(0, maxq)
        codes[start:end] = q
    return (
        codes.reshape(out_features, in_features),
        scale.reshape(out_features, groups),
        zero.reshape(out_features, groups),
    )


def expand_groups(t: torch.Tensor, in_features: int) -> torch.Tensor:
    """``(out, groups)`` per-group values -> ``(out, in)`` per-column values."""
    return t.repeat_interleave(in_features // t.shape[1], dim=1)


def store(spec: QuantSpec, codes: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor,
          **extra: torch.Tensor) -> QuantizedWeight:
    """Packs codes and fp16 metadata into a :class:`QuantizedWeight`."""
    tensors = {"codes": pack(codes, spec.bits), "scale": scale.half(), "zero": zero.half()}
    tensors.update({name: t.half() for name, t in extra.items()})
    return QuantizedWeight(spec, tuple(codes.shape), tensors)


def dequantize_stored(qw: QuantizedWeight, out: torch.Tensor | None = None) -> torch.Tensor:
    """Float32 weight of an RTN-format storage (shared by RTN, GPTQ and AWQ).

    Args:
        qw: the stored weight.
        out: optional float32 buffer of at least ``out * in`` values to write into.
    """
    out_features, in_features = qw.shape
    scale = qw.tensors["scale"].unsqueeze(-1)  # (out, groups, 1) fp16, upcast exactly in-op
    zero = qw.tensors["zero"].unsqueeze(-1)
    q = unpack_float(qw.tensors["codes"], qw.spec.bits, out_features * in_features, out)
    q = q.view(out_features, scale.shape[1], -1)  # (out, groups, size)
    return q.sub_(zero).mul_(scale).view(out_features, in_features)  # (q - z) * s


def stored_nbytes(shape: tuple[int, int], spec: QuantSpec) -> int:
    """Bytes of the RTN storage format: packed codes plus fp16 scale and zero per group."""
    out_features, in_features = shape
    return packed_nbytes(out_features * in_features, spec.bits) + (
        out_features * spec.groups(in_features) * GROUP_META_BYTES
    )


def fake_quantize_rtn(w: torch.Tensor, bits: int, group_size: int) -> torch.Tensor:
    """Quantize-dequantize ``w`` with RTN, in ``w``'s dtype (for quick experiments)."""
    codes, scale, zero = rtn_quantize(w, bits, group_size)
    in_features = w.shape[1]
    deq = dequantize_codes(codes.float(), expand_groups(scale, in_features),
                           expand_groups(zero, in_features))
    return deq.to(w.dtype)
