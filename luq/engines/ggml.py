"""ggml's own quantizers, called through ``ctypes`` from the ``libggml-python`` wheel.

``ggml_quantize_chunk`` is the function ``llama-quantize`` calls for every tensor, so a tensor
quantized here is bit-for-bit what llama.cpp would write for the same type and importance
matrix. The wheel ships only the shared libraries, hence the thin binding. Q4_K, Q2_K and IQ1_M
with an importance matrix run ggml's arithmetic in :mod:`luq.engines.q4k`,
:mod:`luq.engines.q2k` and :mod:`luq.engines.iq1m` (the same bytes, sub-blocks as SIMD lanes;
numba is imported then, not before) unless ``LUQ_GGML_ONLY`` is set or the machine is not
x86-64.
:func:`requantize_gguf` rewrites a whole GGUF with per-tensor types, as ``llama-quantize``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np

from luq.progress import Progress

PARALLEL_WEIGHTS = 1 << 20  # smaller tensors are read back in one call, without threads


LANES = {"Q4_K": "q4k", "IQ1_M": "iq1m", "Q2_K": "q2k"}  # imatrix searches also run as lanes


def lanes_for(name: str):
    """The lane-parallel module for ``name`` (imported, with numba, on first use), or None."""
    if name not in LANES:
        return None
    from importlib import import_module

    module = import_module(f"luq.engines.{LANES[name]}")
    return module if module.available() else None


class GGMLMissingError(ImportError):
    """``libggml-python`` is not installed."""


@cache
def _lib() -> ctypes.CDLL:
    try:
        import libggml
    except ImportError:
        raise GGMLMissingError(
            "ggml's quantizers need the 'libggml-python' package: "
            "pip install libggml-python==0.20.2.post1") from None
    lib = ctypes.CDLL(str(Path(libggml.__file__).parent / "lib64" / "libggml-base.so"))
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                        ctypes.c_void_p]
    lib.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
    lib.ggml_quantize_requires_imatrix.argtypes = [ctypes.c_int]
    lib.ggml_row_size.restype = ctypes.c_size_t
    lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    lib.ggml_blck_size.restype = ctypes.c_int64
    lib.ggml_blck_size.argtypes = [ctypes.c_int]
    lib.ggml_quantize_init.argtypes = [ctypes.c_int]
    lib.ggml_get_type_traits.restype = ctypes.POINTER(_Traits)
    lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
    return lib


class _Traits(ctypes.Structure):
    """The head of ggml's ``struct ggml_type_traits`` (ggml.h), up to ``to_float``."""

    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p)]


_TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


@cache
def _to_float(name: str):
    traits = _lib().ggml_get_type_traits(type_id(name)).contents
    if traits.type_name.decode().upper() != name.upper() or not traits.to_float:
        raise RuntimeError(f"ggml's type traits of {name} do not read as expected "
                           f"({traits.type_name!r}): libggml-python version mismatch?")
    return _TO_FLOAT(traits.to_float)


def type_id(name: str) -> int:
    """ggml's enum value of a type name (``"IQ1_M"`` -> 29), from gguf-py's copy of the enum."""
    from gguf import GGMLQuantizationType

    try:
        return int(GGMLQuantizationType[name])
    except KeyError:
        raise ValueError(f"unknown ggml type {name!r}; known: "
                         f"{', '.join(t.name for t in GGMLQuantizationType)}") from None


def requires_imatrix(name: str) -> bool:
    """True for types ggml refuses to quantize without an importance matrix (IQ1_M, IQ2_XXS...)."""
    return bool(_lib().ggml_quantize_requires_imatrix(type_id(name)))


def block_size(name: str) -> int:
    """Weights per quantization block (a row length must be a multiple of it)."""
    return int(_lib().ggml_blck_size(type_id(name)))


def row_bytes(name: str, n_per_row: int) -> int:
    """Bytes of one quantized row of ``n_per_row`` weights."""
    return int(_lib().ggml_row_size(type_id(name), n_per_row))


def quantize(weight: np.ndarray, name: str, imatrix: np.ndarray | None = None,
             threads: int = 2) -> np.ndarray:
    """Quantizes a float matrix row by row into ggml's block format.

    Args:
        weight: ``(rows, n_per_row)`` float32, C-contiguous; ``n_per_row`` is ggml's ``ne[0]``
            (a linear's ``in_features``).
        name: ggml type name, e.g. ``"Q4_K"``, ``"IQ1_M"``, ``"Q1_0"``.
        imatrix: ``(n_per_row,)`` importance of each input column (mean of x^2), or None.
        threads: row chunks quantized in parallel (ctypes releases the GIL).

    Returns:
        ``(rows, row_bytes)`` uint8: the tensor's bytes as a GGUF file stores them.

    Raises:
        ValueError: the row length is not a multiple of the type's block size, the type
            needs an importance matrix and none was given, the weight or the matrix holds NaN
            or infinity, or the matrix a negative entry (ggml's i-quant searches can then find
            no grid point and abort the process: IQ2_XS on a NaN, IQ1_M on mixed signs).
    """
    lib, qtype = _lib(), type_id(name)
    w = np.ascontiguousarray(weight, dtype=np.float32)
    rows, n_per_row = w.shape
    if n_per_row % block_size(name):
        raise ValueError(f"{name} needs rows of a multiple of {block_size(name)} weights, "
                         f"got {n_per_row}")
    if imatrix is None and requires_imatrix(name):
        raise ValueError(f"{name} needs an importance matrix")
    imat = None if imatrix is None else np.ascontiguousarray(imatrix, dtype=np.float32)
    if imat is not None and imat.shape != (n_per_row,):
        raise ValueError(f"imatrix has shape {imat.shape}, expected ({n_per_row},)")
    for what, values in (("weight", w), ("importance matrix", imat)):
        if values is not None and not np.isfinite(values).all():
            raise ValueError(f"cannot quantize to {name}: the {what} holds NaN or infinite "
                             "values")
    if imat is not None and (imat < 0).any():
        raise ValueError(f"cannot quantize to {name}: the importance matrix has negative "
                         "entries (it is a mean of squared activations)")
    out = np.zeros((rows, row_bytes(name, n_per_row)), dtype=np.uint8)
    step = max(1, -(-rows // max(1, threads)))
    lanes = None if imat is None else lanes_for(name)
    # ggml's IQ grids (8 s for IQ1_S/IQ1_M) are built once, before the threads start, and only
    # when ggml quantizes: the lanes have their own tables, and in the rare case they hand a
    # chunk back, ggml_quantize_chunk builds the grids itself under ggml's critical section.
    if lanes is None:
        lib.ggml_quantize_init(qtype)

    def chunk(start_row: int) -> int:
        n = min(step, rows - start_row)
        if lanes:  # ggml's arithmetic with sub-blocks as SIMD lanes: the same bytes, faster
            blocks = lanes.quantize_rows(w[start_row:start_row + n], imat)
            if blocks is not None:  # None: values beyond nearest_int's range; ggml decides
                out[start_row:start_row + n] = blocks
                return blocks.nbytes
        return lib.ggml_quantize_chunk(qtype, w.ctypes.data, out.ctypes.data,
                                       start_row * n_per_row, n, n_per_row,
                                       None if imat is None else imat.ctypes.data)

    with ThreadPoolExecutor(max(1, threads)) as pool:
        written = sum(pool.map(chunk, range(0, rows, step)))
    if written != out.nbytes:
        raise RuntimeError(f"ggml wrote {written} bytes of {name}, expected {out.nbytes}")
    return out


def dequantize(blocks: np.ndarray, name: str, n_per_row: int, threads: int = 2) -> np.ndarray:
    """ggml's own ``to_float`` (the type traits' routine llama.cpp runs) on stored rows.

    Args:
        blocks: ``(rows, row_bytes)`` uint8, as :func:`quantize` returns them.
        name: their ggml type.
        n_per_row: weights per row.
        threads: row chunks read in parallel (ctypes releases the GIL).

    Returns:
        ``(rows, n_per_row)`` float32.
    """
    data = np.ascontiguousarray(blocks, dtype=np.uint8)
    rows = data.shape[0]
    if data.shape[1] != row_bytes(name, n_per_row):
        raise ValueError(f"{data.shape[1]} bytes per row do not hold {n_per_row} weights of "
                         f"{name}")
    out = np.empty((rows, n_per_row), dtype=np.float32)
    to_float = _to_float(name)
    step = max(1, -(-rows // max(1, threads)))

    def chunk(start_row: int) -> None:
        n = min(step, rows - start_row)
        to_float(data[start_row].ctypes.data, out[start_row].ctypes.data, n * n_per_row)

    if rows <= step or rows * n_per_row < PARALLEL_WEIGHTS:
        to_float(data.ctypes.data, out.ctypes.data, rows * n_per_row)
    else:
        with ThreadPoolExecutor(max(1, threads)) as pool:
            list(pool.map(chunk, range(0, rows, step)))
    return out


def _float_rows(tensor) -> np.ndarray:
    """A ``GGUFReader`` tensor as float32 ``(rows, ne[0])``."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    if tensor.tensor_type in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
        return np.asarray(tensor.data, dtype=np.float32)
    return dequantize(tensor.data, tensor.tensor_type).reshape(tensor.data.shape[0], -1)


def requantize_gguf(src: str | Path, dst: str | Path,
                    tensor_type: Callable[[str, int], str | None],
                    imatrix: dict[str, np.ndarray] | None = None,
                    metadata: dict[str, str] | None = None, file_type: str = "GUESSED",
                    progress: Progress | None = None, threads: int = 2) -> dict[str, str]:
    """Writes the GGUF ``src`` again with each 2-D tensor at the type ``tensor_type`` picks.

    What ``llama-quantize`` does, tensor by tensor and streaming (one tensor in memory): the
    metadata is copied, the tensors are re-quantized by :func:`quantize`.

    Args:
        src: a GGUF (usually the converter's F32 / F16 file).
        dst: the file to write.
        tensor_type: ``(name, n_per_row) -> ggml type name``, or None to keep the tensor as
            it is; it is asked only about 2-D tensors (1-D norms and biases stay).
        imatrix: importance vectors by tensor name, used wherever present.
        metadata: extra string keys (e.g. ``luq.plan``).
        file_type: ``general.file_type`` as a ``LlamaFileType`` name without ``MOSTLY_``.

    Returns:
        The type of every tensor written, by name.
    """
    import gguf

    imatrix = imatrix or {}
    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(dst, reader.fields["general.architecture"].contents())
    for f in reader.fields.values():
        if f.name.startswith("GGUF.") or f.name in ("general.architecture", "general.file_type"):
            continue
        sub = f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(f.name, f.contents(), f.types[0], sub_type=sub)
    writer.add_file_type(int(gguf.LlamaFileType.__members__.get(
        f"MOSTLY_{file_type}", gguf.LlamaFileType.GUESSED)))
    for key, value in (metadata or {}).items():
        writer.add_string(key, value)
    chosen: dict[str, str | None] = {}
    for t in reader.tensors:
        qtype = tensor_type(t.name, int(t.shape[0])) if len(t.data.shape) == 2 else None
        chosen[t.name] = qtype
        nbytes = t.n_bytes if qtype is None else t.data.shape[0] * row_bytes(qtype, int(t.shape[0]))
        writer.add_tensor_info(t.name, [int(s) for s in reversed(t.shape)], np.dtype(np.float32),
                               nbytes, gguf.GGMLQuantizationType[qtype or t.tensor_type.name])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for i, t in enumerate(reader.tensors):
        qtype = chosen[t.name]
        if qtype is None:
            data = t.data
        elif qtype in ("F32", "F16"):
            data = _float_rows(t).astype(np.float32 if qtype == "F32" else np.float16)
        else:
            data = quantize(_float_rows(t), qtype, imatrix.get(t.name), threads)
        writer.write_tensor_data(data)
        if progress:
            progress(i + 1, len(reader.tensors), f"quantizing {t.name} ({qtype or 'kept'})")
    writer.close()
    return {t.name: chosen[t.name] or t.tensor_type.name for t in reader.tensors}
