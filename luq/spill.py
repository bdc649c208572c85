"""Full-precision weights moved out of RAM into a memory-mapped file, as llama.cpp maps its model.

Under a tight memory limit on the CPU, a large decoder's full-precision originals need not stay
resident once their quantized variants exist (:class:`luq.apply.VariantStore` spills them):
:func:`spill_linears` writes a block's ``nn.Linear`` weights to one file, maps the file back
copy-on-write and removes its name at once. The weights read exactly as before; their pages
are read in by the kernel only when something runs the full-precision block (a full-precision
answer, the sensitivity probe's reference, a new setting's quantization, an export), and as
clean file pages the kernel can drop them again under memory pressure. The disk space is
returned when the mapping goes, with the process at the latest.

The file is written in ``LUQ_SPILL_DIR`` when set, else the system's temporary folder.
"""

from __future__ import annotations

import os
import tempfile

import torch
from torch import nn

ENV = "LUQ_SPILL_DIR"


def spill_linears(block: nn.Module, folder: str | os.PathLike | None = None) -> int:
    """Moves the CPU weights of ``block``'s ``nn.Linear`` layers to a mapped file.

    Args:
        block: a decoder block (its quantized copies hold packed tensors of their own).
        folder: where the file is written (default: ``LUQ_SPILL_DIR``, else the temp folder).

    Returns:
        Bytes of weights that left the process's anonymous memory (0 when nothing was on the
        CPU or everything was already mapped).
    """
    linears = [m for m in block.modules() if isinstance(m, nn.Linear)
               and m.weight.device.type == "cpu" and not getattr(m, "_luq_spilled", False)]
    folder = folder or os.environ.get(ENV) or None
    moved = 0
    for m in linears:  # one file each: no two weights share a storage (save_pretrained and
        weight = m.weight.detach().contiguous()  # safetensors copy shared slices)
        fd, path = tempfile.mkstemp(prefix="luq-spill-", suffix=".bin", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(weight.view(torch.uint8).numpy().data)
            mapped = torch.from_file(path, shared=False, size=weight.numel(), dtype=weight.dtype)
        finally:
            os.unlink(path)  # the mapping keeps the data; the name goes now
        m.weight.data = mapped.view(weight.shape)
        m._luq_spilled = True
        moved += weight.numel() * weight.element_size()
    return moved


def is_spilled(block: nn.Module) -> bool:
    """Whether every ``nn.Linear`` weight of ``block`` lives in a spill file."""
    linears = [m for m in block.modules() if isinstance(m, nn.Linear)]
    return bool(linears) and all(getattr(m, "_luq_spilled", False) for m in linears)
