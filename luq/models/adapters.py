"""Architecture adapters: where each supported VLM keeps its decoder and its other parts.

Adapters are found by ``config.model_type`` (the architecture), never by class names. Each
one names, by full module path, the decoder blocks LUQ selects among and the parts that stay
in full precision, and how to find the image token id.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ArchAdapter:
    """Where things live in one architecture.

    Attributes:
        model_type: ``config.model_type`` this adapter serves.
        decoder_layers: path of the ``ModuleList`` of language-model decoder blocks.
        parts: full-precision parts by category (``vision``, ``projector``, ``embeddings``,
            ``lm_head``, ``norm``), each a module path. Whatever no part covers is ``other``.
        image_token_attr: config attribute holding the image token id.
    """

    model_type: str
    decoder_layers: str
    parts: tuple[tuple[str, str], ...]
    image_token_attr: str = "image_token_id"

    def blocks(self, model: nn.Module) -> nn.ModuleList:
        """The decoder blocks of ``model``."""
        return model.get_submodule(self.decoder_layers)

    def block_names(self, model: nn.Module) -> list[str]:
        """Full module names of the decoder blocks, in depth order."""
        return [f"{self.decoder_layers}.{i}" for i in range(len(self.blocks(model)))]

    def image_token_id(self, model: nn.Module) -> int:
        """The id that marks image positions in ``input_ids``."""
        value = getattr(model.config, self.image_token_attr, None)
        if value is None:
            raise ValueError(f"{self.model_type} config has no {self.image_token_attr}")
        return int(value)

    def category(self, param_name: str) -> str:
        """Memory category of a parameter given its full name."""
        if param_name.startswith(self.decoder_layers + "."):
            return "decoder"
        for category, path in self.parts:
            if param_name == path or param_name.startswith(path + "."):
                return category
        return "other"


def _vlm(model_type: str, language: str, vision: str, projector: str) -> ArchAdapter:
    return ArchAdapter(
        model_type=model_type,
        decoder_layers=f"{language}.layers",
        parts=(
            ("projector", projector),  # before vision: Qwen2.5-VL's merger sits inside it
            ("vision", vision),
            ("embeddings", f"{language}.embed_tokens"),
            ("norm", f"{language}.norm"),
            ("lm_head", "lm_head"),
        ),
    )


_ADAPTERS: dict[str, ArchAdapter] = {
    a.model_type: a
    for a in (
        _vlm("llava", "model.language_model", "model.vision_tower", "model.multi_modal_projector"),
        _vlm("qwen2_5_vl", "model.language_model", "model.visual", "model.visual.merger"),
        _vlm("idefics3", "model.text_model", "model.vision_model", "model.connector"),
        _vlm("smolvlm", "model.text_model", "model.vision_model", "model.connector"),
    )
}


def adapter_for(model_or_config) -> ArchAdapter:
    """The adapter for a model (or its config); fails with the supported architectures."""
    config = getattr(model_or_config, "config", model_or_config)
    model_type = getattr(config, "model_type", None)
    try:
        return _ADAPTERS[model_type]
    except KeyError:
        raise ValueError(
            f"unsupported architecture {model_type!r}; supported: {', '.join(sorted(_ADAPTERS))}"
        ) from None


def supported_model_types() -> list[str]:
    """Architectures with an adapter."""
    return sorted(_ADAPTERS)
