"""The models LUQ Explorer knows by name: the embedded model, tiny test models, hub checkpoints.

An entry says where the model comes from; loading lives in ``luq.models.loading``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[2] / "assets"
EMBEDDED_NAME = "embedded"


@dataclass(frozen=True)
class ModelEntry:
    """A named model.

    Attributes:
        name: what users type (``embedded``, ``tiny-random-llava``, a hub id).
        source: ``embedded`` (shipped folder), ``tiny`` (random weights from a config) or
            ``hub`` (downloaded; needs network the first time).
        description: one line for pickers and ``--help``.
        config_file: for hub models, the shipped copy of the checkpoint's config, so memory
            can be estimated without a download.
    """

    name: str
    source: str
    description: str
    config_file: str = ""

    @property
    def local_path(self) -> Path | None:
        return ASSETS / "embedded" if self.source == "embedded" else None


_ENTRIES = (
    ModelEntry(EMBEDDED_NAME, "embedded",
               "tiny LLaVA trained on coloured-shape VQA; ships with the app, runs offline"),
    ModelEntry("tiny-random-llava", "tiny", "random tiny LLaVA for tests (answers are noise)"),
    ModelEntry("tiny-random-qwen2.5-vl", "tiny",
               "random tiny Qwen2.5-VL for tests (answers are noise)"),
    ModelEntry("tiny-random-smolvlm", "tiny",
               "random tiny SmolVLM / Idefics3 for tests (answers are noise)"),
    ModelEntry("llava-hf/llava-1.5-7b-hf", "hub", "LLaVA-1.5 7B (paper)", "llava-1.5-7b-hf.json"),
    ModelEntry("Qwen/Qwen2.5-VL-3B-Instruct", "hub", "Qwen2.5-VL 3B",
               "qwen2.5-vl-3b-instruct.json"),
    ModelEntry("Qwen/Qwen2.5-VL-7B-Instruct", "hub", "Qwen2.5-VL 7B (paper)",
               "qwen2.5-vl-7b-instruct.json"),
    ModelEntry("HuggingFaceTB/SmolVLM-256M-Instruct", "hub", "SmolVLM 256M",
               "smolvlm-256m-instruct.json"),
)
REGISTRY: dict[str, ModelEntry] = {e.name: e for e in _ENTRIES}


def get_entry(name: str) -> ModelEntry | None:
    """The registry entry for ``name``, or None for a path or an unregistered hub id."""
    return REGISTRY.get(name)


def model_names(source: str | None = None) -> list[str]:
    """Registered names, optionally of one source."""
    return [e.name for e in _ENTRIES if source is None or e.source == source]
