"""Per-layer entropy profiles: calibration -> hooks -> estimator, cached as JSON on disk."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from torch import nn

from luq.activations import ActivationRecorder, record_batches
from luq.entropy import ESTIMATORS, estimate
from luq.models.adapters import ArchAdapter
from luq.progress import Progress


@dataclass(frozen=True)
class EntropyConfig:
    """How entropy is estimated.

    Attributes:
        estimator: ``kmeans`` (the paper's), ``hist`` or ``hist-clip``.
        clusters: K of k-means (the paper uses 100).
        bins: B of the histogram estimators.
        clip: tail quantile cut by ``hist-clip``.
        max_tokens: token vectors kept per layer and modality.
        linears: also profile each linear of each block (detail view; slower).
        seed: k-means and reservoir seed.
    """

    estimator: str = "kmeans"
    clusters: int = 100
    bins: int = 256
    clip: float = 0.001
    max_tokens: int = 2048
    linears: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r}; known: "
                             f"{', '.join(ESTIMATORS)}")
        if self.clusters < 2 or self.bins < 2:
            raise ValueError("clusters and bins must be >= 2")
        if self.max_tokens < 16:
            raise ValueError("max_tokens must be >= 16")

    def of(self, x) -> float:
        return estimate(x, self.estimator, self.clusters, self.bins, self.clip, self.seed)


@dataclass(frozen=True)
class LayerEntropy:
    """Entropy of one module's outputs, image tokens vs text tokens vs all."""

    index: int
    name: str
    entropy_image: float
    entropy_text: float
    entropy: float
    n_image: int
    n_text: int


@dataclass(frozen=True)
class EntropyProfile:
    """A model's per-block (and optionally per-linear) entropy, with the settings used."""

    model: str
    calibration: dict
    estimator: dict
    layers: tuple[LayerEntropy, ...]
    linears: tuple[LayerEntropy, ...] = ()
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def values(self, modality: str = "all") -> list[float]:
        key = {"all": "entropy", "image": "entropy_image", "text": "entropy_text"}[modality]
        return [getattr(layer, key) for layer in self.layers]

    def layer_values(self, key: str) -> list | None:
        """A per-layer measurement other than entropy (e.g. ``sensitivity_kl``), if present."""
        rows = self.extra.get("layer_extra")
        if not rows or any(key not in row for row in rows):
            return None
        return [row[key] for row in rows]

    def to_dict(self) -> dict:
        extra = dict(self.extra)
        per_layer = extra.pop("layer_extra", None) or [{} for _ in self.layers]
        return {"model": self.model, "calibration": self.calibration,
                "estimator": self.estimator, "seconds": round(self.seconds, 3),
                "layers": [{**asdict(x), **more} for x, more in zip(self.layers, per_layer)],
                "linears": [asdict(x) for x in self.linears], **extra}

    @classmethod
    def from_dict(cls, data: dict) -> EntropyProfile:
        """Inverse of :meth:`to_dict`; per-layer keys beyond entropy (such as the
        sensitivity the probe adds) are kept and available through :meth:`layer_values`."""
        known = {"model", "calibration", "estimator", "seconds", "layers", "linears"}
        fields = set(LayerEntropy.__dataclass_fields__)
        layers = tuple(LayerEntropy(**{k: v for k, v in x.items() if k in fields})
                       for x in data["layers"])
        per_layer = [{k: v for k, v in x.items() if k not in fields} for x in data["layers"]]
        extra = {k: v for k, v in data.items() if k not in known}
        if any(per_layer):
            extra["layer_extra"] = per_layer
        return cls(model=data["model"], calibration=data["calibration"],
                   estimator=data["estimator"], layers=layers,
                   linears=tuple(LayerEntropy(**x) for x in data.get("linears", [])),
                   seconds=float(data.get("seconds", 0.0)), extra=extra)


def entropies(rec: ActivationRecorder, names: list[str], config: EntropyConfig,
              progress: Progress | None = None) -> tuple[LayerEntropy, ...]:
    """Estimates each recorded module's entropy per modality."""
    out = []
    for i, name in enumerate(names):
        img, txt, both = (rec.tokens(name, m) for m in ("image", "text", "all"))
        out.append(LayerEntropy(i, name, config.of(img), config.of(txt), config.of(both),
                                img.shape[0], txt.shape[0]))
        if progress:
            progress(i + 1, len(names), f"entropy of {name}")
    return tuple(out)


def profile_entropy(model: nn.Module, adapter: ArchAdapter, batches: list[dict],
                    model_name: str, calibration: dict, config: EntropyConfig,
                    progress: Progress | None = None) -> EntropyProfile:
    """Runs the calibration batches and estimates every decoder block's entropy.

    Args:
        model: the (full-precision) model.
        adapter: its architecture adapter.
        batches: calibration inputs (``luq.calibration.calibration_batches``).
        model_name: recorded in the profile.
        calibration: the calibration settings, recorded in the profile.
        config: estimator settings.
        progress: ``progress(done, total, message)``.
    """
    start = time.perf_counter()
    rec = record_batches(model, adapter, batches, progress, max_tokens=config.max_tokens,
                         linears=config.linears, seed=config.seed)
    blocks = entropies(rec, adapter.block_names(model), config, progress)
    linear_names = [n for n in rec.outputs if n not in set(adapter.block_names(model))]
    linears = entropies(rec, linear_names, config, progress) if config.linears else ()
    return EntropyProfile(model_name, calibration, asdict(config), blocks, linears,
                          time.perf_counter() - start)


def cache_dir() -> Path:
    """Where profiles are cached: ``$LUQ_CACHE_DIR`` or ``~/.cache/luq``."""
    return Path(os.environ.get("LUQ_CACHE_DIR", Path.home() / ".cache" / "luq"))


def cache_key(**parts) -> str:
    """A stable file-name key of JSON-able settings."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def cached(kind: str, key: str, compute: Callable[[], dict], directory: Path | None = None) -> dict:
    """``compute()`` once per key; later calls read the JSON. A corrupt file is recomputed."""
    path = (directory or cache_dir()) / f"{kind}-{key}.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            path.unlink(missing_ok=True)
    data = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    # a name of its own per writer: two requests computing the same key both succeed
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
    return data


def fingerprint(model: nn.Module) -> str:
    """A cheap identity of a model's weights as they stand: the names, shapes and a sample of
    every parameter and buffer, so a block swapped for a quantized variant changes it."""
    h = hashlib.sha256()
    tensors = [*model.named_parameters(), *model.named_buffers()]
    for name, t in tensors:
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        if t.device.type != "meta":
            h.update(t.detach().reshape(-1)[:64].float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]
