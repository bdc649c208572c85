"""Loading models: offline first, the same code path for the embedded model and hub models.

A name resolves, in order, to: a tiny model built from a config; the embedded folder; a
local ``save_pretrained`` folder; a hub id (from the local cache first; downloading only when
``HF_HUB_OFFLINE`` is not set). ``trust_remote_code`` is never turned on by default.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub.errors import StrictDataclassError
from torch import nn
from transformers import AutoConfig, AutoModelForImageTextToText, PretrainedConfig

from luq.hub import HUB_ID, hub_online
from luq.limits import ConfigTooLarge, check_config, estimate_parameters, read_config_file
from luq.memlimit import active_limit
from luq.models.adapters import ArchAdapter, adapter_for
from luq.models.detail import IMAGE_DETAILS, default_detail, set_image_detail
from luq.models.prompting import load_processor
from luq.models.registry import ASSETS, get_entry
from luq.models.tiny import TINY_CONFIGS, tiny_config, tiny_processor
from luq.resources import available_memory_bytes


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says why and what to do."""


@dataclass
class LoadedModel:
    """A model ready for LUQ: the module, its processor and its adapter."""

    name: str
    model: nn.Module
    processor: object | None
    adapter: ArchAdapter
    image_detail: str = "model"  # luq.models.detail: the processor's setting


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 (or fp16) on GPU; fp32 on CPU, where bf16 matmuls are several times slower."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def resolve_config(name: str, trust_remote_code: bool = False) -> PretrainedConfig:
    """A model's config without its weights: tiny, shipped copy, local folder, or hub."""
    if name in TINY_CONFIGS:
        return tiny_config(name)
    entry = get_entry(name)
    if entry is not None and entry.local_path is not None:
        name = str(entry.local_path)
    elif entry is not None and entry.config_file:
        path = ASSETS / "configs" / entry.config_file
        if path.exists():
            return config_from_file(path)
    if not Path(name).exists():
        hub_online()  # no network: offline mode at once, not 23 s of retries
    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, StrictDataclassError) as err:
        raise ModelLoadError(_load_hint(name, err)) from None
    checked(config)
    return config


def checked(config: PretrainedConfig) -> PretrainedConfig:
    """``config`` if it is within :data:`luq.limits.DEFAULT_LIMITS`, else ModelLoadError."""
    try:
        check_config(config.to_dict())
    except ConfigTooLarge as err:
        raise ModelLoadError(str(err)) from None
    return config


def hub_config_file(repo_id: str) -> Path:
    """The ``config.json`` of a hub repository (downloaded or from the cache): always the
    hub's, never a local folder that happens to have the same name.

    Raises:
        ModelLoadError: not a hub id, or not reachable and not cached.
    """
    from huggingface_hub import hf_hub_download

    if not HUB_ID.match(repo_id):
        raise ModelLoadError(f"{repo_id!r} is not a hub id (organisation/name)")
    hub_online()
    try:
        return Path(hf_hub_download(repo_id, "config.json"))
    except Exception as err:  # noqa: BLE001 - huggingface_hub's errors vary by version
        raise ModelLoadError(_load_hint(repo_id, err)) from None


def config_from_file(path: str | Path) -> PretrainedConfig:
    """A config from a ``config.json`` file (a shipped copy or one a user uploads).

    Raises:
        ModelLoadError: not JSON, no ``model_type``, or a type transformers does not know.
    """
    try:
        data = read_config_file(path)  # size and sizes checked before anything is built
        model_type = data.pop("model_type")
        return checked(AutoConfig.for_model(model_type, **data))
    except ConfigTooLarge as err:
        raise ModelLoadError(str(err)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"{Path(path).name} is not a readable JSON config: "
                             f"{_one_line(err)}") from None
    except KeyError:
        raise ModelLoadError(f"{Path(path).name} has no model_type: is it a transformers "
                             "config.json?") from None
    except (AttributeError, TypeError, ValueError, StrictDataclassError) as err:
        raise ModelLoadError(f"{Path(path).name} is not a config transformers can read: "
                             f"{_one_line(err)}") from None


def build_meta_model(name_or_config: str | PretrainedConfig) -> nn.Module:
    """The model's module tree on the meta device: shapes only, no memory, no download.

    Raises:
        ModelLoadError: the config is not of an image-text-to-text model transformers knows.
    """
    config = checked(name_or_config) if isinstance(name_or_config, PretrainedConfig) \
        else resolve_config(name_or_config)
    try:
        with torch.device("meta"):
            return AutoModelForImageTextToText.from_config(config)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
        raise ModelLoadError(f"{config.model_type!r} is not a vision-language model "
                             f"transformers can build for image-text-to-text: "
                             f"{_one_line(err)}") from None


def load_model(name: str, device: torch.device | str | None = None,
               dtype: torch.dtype | None = None, trust_remote_code: bool = False,
               seed: int = 0, image_detail: str | None = None) -> LoadedModel:
    """Loads a model (and its processor) by registry name, local path or hub id.

    Args:
        name: ``embedded``, a tiny model name, a ``save_pretrained`` folder, or a hub id.
        device: defaults to the GPU when present.
        dtype: defaults to fp32 on CPU, bf16/fp16 on GPU.
        trust_remote_code: only for checkpoints you trust; off by default.
        seed: initialisation seed of tiny random models.
        image_detail: ``model`` or ``one-tile`` (:mod:`luq.models.detail`; default: one tile
            on the CPU, the model's own on a GPU).

    Raises:
        ModelLoadError: with what to do (e.g. "needs a download; you are offline").
    """
    device = torch.device(device) if device is not None else default_device()
    dtype = dtype or default_dtype(device)
    detail = image_detail or default_detail(device)
    if detail not in IMAGE_DETAILS:
        raise ValueError(f"image detail must be one of {', '.join(IMAGE_DETAILS)}, got "
                         f"{detail!r}")
    if name in TINY_CONFIGS:
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(tiny_config(name)).to(device, dtype)
        processor = tiny_processor(name)
        set_image_detail(processor, detail)
        return LoadedModel(name, model.eval(), processor, adapter_for(model), detail)
    entry = get_entry(name)
    source = str(entry.local_path) if entry is not None and entry.local_path else name
    config = resolve_config(source, trust_remote_code)  # sizes checked before any weight
    _check_fits(name, config, device, dtype)
    kwargs = {"trust_remote_code": trust_remote_code, "dtype": dtype}
    if device.type == "cuda" and torch.cuda.device_count() > 1:
        kwargs["device_map"] = "auto"  # accelerate spreads a large model over the GPUs
    try:
        model = AutoModelForImageTextToText.from_pretrained(source, **kwargs)
        processor = load_processor(source, model.config.model_type, trust_remote_code)
    except (OSError, ValueError, ImportError) as err:
        raise ModelLoadError(_load_hint(name, err)) from None
    if "device_map" not in kwargs:
        model = model.to(device)
    set_image_detail(processor, detail)
    return LoadedModel(name, model.eval(), processor, adapter_for(model), detail)


def _check_fits(name: str, config: PretrainedConfig, device: torch.device,
                dtype: torch.dtype) -> None:
    """Refuses a model whose weights (estimated from its config) exceed the room the memory
    limit leaves (:mod:`luq.memlimit`), or without one the free memory."""
    need = estimate_parameters(config.to_dict()) * torch.finfo(dtype).bits // 8
    limit = active_limit()
    if limit is not None and torch.device(limit.device).type == device.type:
        if need > limit.headroom():
            raise ModelLoadError(f"{name} needs about {need / 1e9:.1f} GB for its "
                                 f"{str(dtype).removeprefix('torch.')} weights; "
                                 f"{limit.headroom() / 1e9:.1f} GB is left under the memory "
                                 f"limit of {limit.describe()}")
        return
    free = available_memory_bytes(device)
    if free is not None and need > free:
        raise ModelLoadError(f"{name} needs about {need / 1e9:.1f} GB for its "
                             f"{str(dtype).removeprefix('torch.')} weights; {free / 1e9:.1f} GB "
                             f"is free on {device.type}")


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())[:300] or type(err).__name__


def _load_hint(name: str, err: Exception) -> str:
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    if Path(name).exists():
        return f"could not load the folder {name!r}: {err}"
    why = "HF_HUB_OFFLINE is set" if offline else "it is not in the local cache and the hub " \
          "could not be reached"
    return (f"cannot load {name!r}: {why}. Hub checkpoints need a download the first time "
            f"(run once with network, or pass a local save_pretrained folder). ({err})")
