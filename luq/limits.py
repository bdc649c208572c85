"""What a config may ask for before anything is built from it: checked by arithmetic alone.

A public app builds meta-device models from configs that anyone can upload or name (What
fits, the model picker). Building is linear in the number of layers, experts and positions
a config asks for, so a 94-byte file with ten million layers would run for minutes and take
gigabytes of RAM (measured: 682 s, 24 GB, then the kernel's OOM killer). Every config is
therefore checked here first, field by field and by its total parameter count, in
microseconds, against stated :class:`ConfigLimits`; a config past them is refused with one
line naming the field, and nothing is built.

The parameter count is an estimate from the sizes alone (per config or sub-config:
``layers x (4 hidden² + 3 hidden x intermediate x experts) + 2 vocab x hidden + positions x
hidden``); it is an upper bound's order of magnitude, good for refusing absurd configs, not
for memory accounting (``luq.memory`` does that on the built model).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

# Field names that carry each size, across the architectures transformers builds.
LAYER_KEYS = ("num_hidden_layers", "num_layers", "n_layer", "n_layers", "depth",
              "encoder_layers", "decoder_layers")
WIDTH_KEYS = ("hidden_size", "d_model", "n_embd", "embed_dim", "dim", "out_hidden_size",
              "projection_dim", "head_dim", "kv_lora_rank", "q_lora_rank")
FFN_KEYS = ("intermediate_size", "ffn_dim", "d_ff", "n_inner", "moe_intermediate_size",
            "shared_expert_intermediate_size", "encoder_ffn_dim", "decoder_ffn_dim")
HEAD_KEYS = ("num_attention_heads", "num_key_value_heads", "num_heads", "n_head",
             "encoder_attention_heads", "decoder_attention_heads")
EXPERT_KEYS = ("num_experts", "num_local_experts", "n_routed_experts", "n_shared_experts",
               "num_experts_per_tok", "moe_num_experts")
VOCAB_KEYS = ("vocab_size",)
POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len")
IMAGE_KEYS = ("image_size",)
PATCH_KEYS = ("patch_size",)
MAX_CONFIG_FILE_BYTES = 1_000_000  # a real config.json is a few kB


class ConfigTooLarge(ValueError):
    """A config asks for more than :class:`ConfigLimits` allows; the message names the field."""


@dataclass(frozen=True)
class ConfigLimits:
    """The largest config the app builds (defaults cover every released VLM with room).

    Attributes:
        parameters: estimated total parameters (2 T: the largest open models are about 1 T).
        layers: layers of any tower (1024; released models have at most about 128).
        width: hidden and other per-token widths (65,536; the largest are about 16k).
        intermediate: feed-forward width (262,144).
        heads: attention heads (1024).
        experts: experts per layer (1024; released MoEs have at most 384).
        vocabulary: vocabulary size (1,048,576; the largest are about 262k).
        positions: maximum positions (16,777,216; learned position tables are this long).
        image_patches: patches per image side squared ((image_size / patch_size)², 1,048,576).
        expert_layers: layers x experts summed over towers (65,536): the modules built.
    """

    parameters: float = 2e12
    layers: int = 1024
    width: int = 65_536
    intermediate: int = 262_144
    heads: int = 1024
    experts: int = 1024
    vocabulary: int = 1_048_576
    positions: int = 16_777_216
    image_patches: int = 1_048_576
    expert_layers: int = 65_536

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value > 0:
                raise ValueError(f"ConfigLimits.{name} must be positive, got {value}")

    def describe(self) -> str:
        """One line stating the limits, for messages and the README."""
        return (f"at most {self.parameters / 1e12:g} T parameters, {self.layers} layers, "
                f"width {self.width}, intermediate {self.intermediate}, {self.heads} heads, "
                f"{self.experts} experts, vocabulary {self.vocabulary}, "
                f"{self.positions} positions")


DEFAULT_LIMITS = ConfigLimits()
_FIELD_LIMITS = ((LAYER_KEYS, "layers"), (WIDTH_KEYS, "width"), (FFN_KEYS, "intermediate"),
                 (HEAD_KEYS, "heads"), (EXPERT_KEYS, "experts"), (VOCAB_KEYS, "vocabulary"),
                 (POSITION_KEYS, "positions"), (IMAGE_KEYS, "image_patches"),
                 (PATCH_KEYS, "image_patches"))


def _first(node: dict, keys: tuple[str, ...], default: int = 0) -> int:
    for key in keys:
        value = node.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return default


def _nodes(data: dict) -> list[tuple[str, dict]]:
    """Every (sub-)config dict with its dotted path, the top one first (no recursion: a
    deeply nested upload cannot exhaust the stack)."""
    out, todo = [], [("", data)]
    while todo:
        path, node = todo.pop(0)
        out.append((path, node))
        todo += [(f"{path}{k}.", v) for k, v in node.items() if isinstance(v, dict)]
    return out


def _check_field(where: str, key: str, value, limit: int, what: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)
        else:
            raise ConfigTooLarge(f"config field {where}{key} must be a whole number, got "
                                 f"{str(value)[:40]!r}")
    if value < 0:
        raise ConfigTooLarge(f"config field {where}{key} must not be negative, got {value}")
    if value > limit:
        shown = str(value) if len(str(value)) <= 20 else f"{value:.3g}"
        raise ConfigTooLarge(f"config field {where}{key} = {shown} is over this app's limit "
                             f"of {limit} {what}; nothing was built")


def estimate_parameters(data: dict) -> int:
    """Order-of-magnitude parameter count of a config dict (sub-configs included)."""
    total = 0
    for _, node in _nodes(data):
        layers = _first(node, LAYER_KEYS)
        width = _first(node, ("hidden_size", "d_model", "n_embd", "embed_dim", "dim"))
        if not width:
            continue
        ffn = _first(node, FFN_KEYS, 4 * width)
        experts = max(1, _first(node, ("num_experts", "num_local_experts", "n_routed_experts",
                                       "moe_num_experts")))
        vocab = _first(node, VOCAB_KEYS)
        patch = max(1, _first(node, PATCH_KEYS, 1))
        positions = (_first(node, IMAGE_KEYS) // patch) ** 2
        total += layers * (4 * width * width + 3 * width * ffn * experts) \
            + 2 * vocab * width + positions * width
    return total


def check_config(data: dict, limits: ConfigLimits = DEFAULT_LIMITS) -> int:
    """Refuses a config dict past ``limits``; returns its estimated parameter count.

    Args:
        data: a ``config.json``'s content (or ``PretrainedConfig.to_dict()``).
        limits: the limits to hold it to.

    Raises:
        ConfigTooLarge: a size field is not a whole number, negative or over its limit, or
            the estimated parameters are over ``limits.parameters``.

    Example:
        ``{"model_type": "llava", "text_config": {"num_hidden_layers": 10000000}}`` ->
        ConfigTooLarge("config field text_config.num_hidden_layers = 10000000 is over ...").
    """
    if not isinstance(data, dict):
        raise ConfigTooLarge(f"a config must be a JSON object, got {type(data).__name__}")
    expert_layers = 0
    for where, node in _nodes(data):
        for keys, name in _FIELD_LIMITS:
            for key in keys:
                if key in node:
                    _check_field(where, key, node[key], getattr(limits, name), name)
        patch = max(1, _first(node, PATCH_KEYS, 1))
        patches = (_first(node, IMAGE_KEYS) // patch) ** 2
        if patches > limits.image_patches:
            raise ConfigTooLarge(f"config {where or 'top level'}: {patches} patches per image is "
                                 f"over this app's limit of {limits.image_patches}")
        expert_layers += _first(node, LAYER_KEYS) * max(1, _first(node, EXPERT_KEYS[:3]))
    if expert_layers > limits.expert_layers:
        raise ConfigTooLarge(f"config asks for {expert_layers} layer x expert blocks, over this "
                             f"app's limit of {limits.expert_layers}; nothing was built")
    params = estimate_parameters(data)
    if params > limits.parameters:
        raise ConfigTooLarge(f"config describes about {params / 1e12:.3g} T parameters, over this "
                             f"app's limit of {limits.parameters / 1e12:g} T; nothing was built")
    return params


def read_config_file(path: str | Path, limits: ConfigLimits = DEFAULT_LIMITS) -> dict:
    """A ``config.json`` file's content, size-capped and checked by :func:`check_config`.

    Raises:
        ConfigTooLarge: the file is over :data:`MAX_CONFIG_FILE_BYTES` or the config over
            ``limits``.
        ValueError: not UTF-8 JSON (``json.JSONDecodeError``, ``UnicodeDecodeError``).
        OSError: the file cannot be read.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_CONFIG_FILE_BYTES:
        raise ConfigTooLarge(f"{path.name} has {size} bytes; a config.json is at most "
                             f"{MAX_CONFIG_FILE_BYTES} bytes here")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise ValueError(f"{path.name} nests too deeply to be a config") from None
    check_config(data, limits)
    return data
