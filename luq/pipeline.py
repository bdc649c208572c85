"""End-to-end steps shared by the CLI and the app: profile, select, sweep.

Each step takes a loaded model and plain settings and returns plain data; caching of
profiles lives here so that both front ends reuse it.
"""

from __future__ import annotations

from collections.abc import Callable

from luq.calibration import CalibrationConfig, calibration_batches
from luq.memory import model_layout
from luq.models.loading import LoadedModel
from luq.profile import (
    EntropyConfig,
    EntropyProfile,
    cache_key,
    cached,
    fingerprint,
    profile_entropy,
)
from luq.quant.spec import QuantSpec
from luq.select import Selection, greedy_select, layer_order

Progress = Callable[[int, int, str], None]


def calibration_data(split: str = "calibration"):
    """The embedded shapes dataset split and its text-only prompts (the default source)."""
    from luq.data import load_split, text_prompts

    return load_split(split), text_prompts()


def run_profile(loaded: LoadedModel, calibration: CalibrationConfig, config: EntropyConfig,
                dataset=None, prompts: list[str] | None = None,
                progress: Progress | None = None, use_cache: bool = True) -> EntropyProfile:
    """Entropy profile of a loaded model, cached on disk by model, calibration and estimator.

    Args:
        loaded: the model, its processor and adapter.
        calibration: the calibration mix.
        config: estimator settings.
        dataset: image/question rows; the embedded calibration split when omitted.
        prompts: text-only prompts; the embedded ones when omitted.
        progress: ``progress(done, total, message)``.
        use_cache: read/write the JSON cache.
    """
    if loaded.processor is None:
        raise ValueError(f"{loaded.name} has no processor, so it cannot be calibrated")
    if dataset is None or prompts is None:
        default_dataset, default_prompts = calibration_data()
        dataset = default_dataset if dataset is None else dataset
        prompts = default_prompts if prompts is None else prompts

    def compute() -> dict:
        batches = calibration_batches(loaded.processor, dataset, prompts, calibration)
        profile = profile_entropy(loaded.model, loaded.adapter, batches, loaded.name,
                                  calibration.key(), config, progress)
        return profile.to_dict()

    if not use_cache:
        return EntropyProfile.from_dict(compute())
    key = cache_key(model=loaded.name, weights=fingerprint(loaded.model),
                    calibration=calibration.key(), estimator=config, data=len(dataset))
    return EntropyProfile.from_dict(cached("profile", key, compute))


def select_plan(loaded_or_layout, profile: EntropyProfile | None, budget_bytes: int,
                high: QuantSpec, low: QuantSpec, order: str = "entropy",
                modality: str = "all", scores: list[float] | None = None,
                seed: int = 0, model_name: str = "") -> Selection:
    """Greedy selection under a memory budget in the chosen order.

    ``scores`` overrides the profile's entropies (e.g. sensitivity for that order).
    """
    layout = loaded_or_layout if not isinstance(loaded_or_layout, LoadedModel) \
        else model_layout(loaded_or_layout.model, loaded_or_layout.adapter)
    if scores is None and profile is not None:
        scores = profile.values(modality)
    ordered = layer_order(layout.block_names, order, scores, seed)
    return greedy_select(layout, ordered, high, low, budget_bytes, order_name=order,
                         model=model_name)


def add_sensitivity(loaded: LoadedModel, profile: dict, calibration: CalibrationConfig,
                    low: QuantSpec, base: QuantSpec | None, labelled: int = 0,
                    progress: Progress | None = None) -> dict:
    """Adds measured sensitivity and entropy-vs-sensitivity Spearman rho to a profile dict.

    Each layer gains ``sensitivity_kl`` (and ``sensitivity_acc``, the accuracy drop, when
    ``labelled`` questions of the embedded test split are used). The top level gains
    ``spearman``: for each estimator (k-means, histogram, clipped histogram) and modality, the
    rank correlation of entropy with ``sensitivity_kl`` and a 90 % bootstrap interval.
    """
    from luq.apply import LayerVariantCache
    from luq.sensitivity import bootstrap_spearman, probe

    dataset, prompts = calibration_data()
    batches = calibration_batches(loaded.processor, dataset, prompts, calibration)
    evaluate = None
    if labelled:
        test, _ = calibration_data("test")
        from luq.evaluation import evaluate as run_eval

        sample = test.select(range(min(labelled, len(test))))

        def evaluate() -> float:
            return run_eval(loaded.model, loaded.processor, sample).accuracy

    cache = LayerVariantCache(loaded.model, loaded.adapter)
    sens = probe(cache, batches, low, base, evaluate, progress)
    cache.restore()
    out = dict(profile)
    out["layers"] = [dict(layer) for layer in profile["layers"]]
    for i, layer in enumerate(out["layers"]):
        layer["sensitivity_kl"] = sens.kl[i]
        if sens.accuracy is not None:
            layer["sensitivity_acc"] = sens.base_accuracy - sens.accuracy[i]
    out["sensitivity"] = {"low": low.label, "base": (base or QuantSpec("fp16", 16, 0)).label,
                          "base_kl": sens.base_kl, "base_accuracy": sens.base_accuracy,
                          "labelled": labelled}
    spearman = {}
    for estimator in ("kmeans", "hist", "hist-clip"):
        config = EntropyConfig(**{**profile["estimator"], "estimator": estimator,
                                  "linears": False})
        prof = run_profile(loaded, calibration, config, dataset, prompts)
        for modality in ("image", "text", "all"):
            rho, lo, hi = bootstrap_spearman(prof.values(modality), sens.per_sample)
            spearman[f"{estimator}/{modality}"] = {"rho": rho, "ci90": [lo, hi]}
    out["spearman"] = spearman
    return out
