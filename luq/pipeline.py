"""Profiling steps on a loaded model: entropy profiles and measured sensitivity.

Each step takes a loaded model and plain settings and returns plain data; profiles and
sensitivity probes are cached on disk. Run profiles through :class:`luq.session.Session`, which
holds the lock and puts the model in full precision first; the sensitivity probe takes the
lock one step at a time itself, so a long probe never stalls other users of the model.
"""

from __future__ import annotations

from contextlib import contextmanager

from luq.apply import LayerVariantCache
from luq.calibration import CalibrationConfig, calibration_batches
from luq.entropy import ESTIMATORS
from luq.evaluation import evaluate
from luq.models.detail import settings_key
from luq.models.loading import LoadedModel
from luq.profile import (
    EntropyConfig,
    EntropyProfile,
    cache_key,
    cached,
    fingerprint,
    profile_entropy,
)
from luq.progress import Progress
from luq.quant.spec import FULL_PRECISION, QuantSpec
from luq.sensitivity import bootstrap_spearman, probe
from luq.tasks.calibration import CalibrationSource, calibration_source


def run_profile(loaded: LoadedModel, calibration: CalibrationConfig, config: EntropyConfig,
                source: CalibrationSource | None = None,
                progress: Progress | None = None, use_cache: bool = True) -> EntropyProfile:
    """Entropy profile of a loaded model, cached on disk by model, calibration and estimator.

    Args:
        loaded: the model, its processor and adapter.
        calibration: the calibration mix.
        config: estimator settings.
        source: image/question rows and text-only prompts (``luq.tasks.calibration_source``;
            the embedded shapes calibration split when omitted). Its key is part of the
            cache key.
        progress: ``progress(done, total, message)``.
        use_cache: read/write the JSON cache.
    """
    if loaded.processor is None:
        raise ValueError(f"{loaded.name} has no processor, so it cannot be calibrated")
    source = source or calibration_source()

    def compute() -> dict:
        batches = calibration_batches(loaded.processor, source.rows, source.text_prompts,
                                      calibration)
        profile = profile_entropy(loaded.model, loaded.adapter, batches, loaded.name,
                                  calibration.key(), config, progress)
        return profile.to_dict()

    if not use_cache:
        return EntropyProfile.from_dict(compute())
    key = cache_key(model=loaded.name, weights=fingerprint(loaded.model),
                    calibration=calibration.key(), estimator=config, data=source.key,
                    images=settings_key(loaded.processor))
    return EntropyProfile.from_dict(cached("profile", key, compute))


@contextmanager
def _full_precision(cache: LayerVariantCache):
    """The model in full precision under the lock; the plan it had is put back after."""
    with cache.lock.background():
        previous = cache.current
        cache.restore()
        try:
            yield
        finally:
            if previous is not None:
                cache.apply(previous)


def probe_damage(loaded: LoadedModel, calibration: CalibrationConfig, low: QuantSpec,
                 base: QuantSpec | None, cache: LayerVariantCache, labelled: int = 0,
                 progress: Progress | None = None,
                 source: CalibrationSource | None = None) -> dict:
    """Each block's damage at ``low`` with the others at ``base`` (:func:`luq.sensitivity.probe`),
    cached on disk like profiles: ``{"kl", "per_sample", "base_kl", "base_accuracy",
    "accuracy"}`` (the accuracies when ``labelled`` shapes questions are used)."""
    source = source or calibration_source()

    def compute() -> dict:
        batches = calibration_batches(loaded.processor, source.rows, source.text_prompts,
                                      calibration)
        evaluate_now = None
        if labelled:
            from luq.embedded import load_split

            rows = load_split("test", labelled)

            def evaluate_now() -> float:
                return evaluate(loaded.model, loaded.processor, rows).accuracy

        sens = probe(cache, batches, low, base, evaluate_now, progress)
        return {"kl": list(sens.kl), "per_sample": [list(x) for x in sens.per_sample],
                "base_kl": sens.base_kl, "base_accuracy": sens.base_accuracy,
                "accuracy": list(sens.accuracy) if sens.accuracy is not None else None}

    with _full_precision(cache):
        weights = fingerprint(loaded.model)
    key = cache_key(model=loaded.name, weights=weights,
                    calibration=calibration.key(), low=low,
                    base=(base or FULL_PRECISION).label, labelled=labelled,
                    stats=cache.stats is not None or cache.calibration is not None,
                    data=source.key, images=settings_key(loaded.processor))
    return cached("sensitivity", key, compute)


def add_sensitivity(loaded: LoadedModel, profile: dict, calibration: CalibrationConfig,
                    low: QuantSpec, base: QuantSpec | None, cache: LayerVariantCache,
                    labelled: int = 0, progress: Progress | None = None,
                    source: CalibrationSource | None = None) -> dict:
    """Adds measured sensitivity and entropy-vs-sensitivity Spearman rho to a profile dict.

    Each layer gains ``sensitivity_kl`` (and ``sensitivity_acc``, the accuracy drop, when
    ``labelled`` questions of the embedded test split are used). The top level gains
    ``spearman``: for each estimator (k-means, histogram, clipped histogram) and modality, the
    rank correlation of entropy with ``sensitivity_kl`` and a 90 % bootstrap interval over
    calibration samples. The probe is cached on disk like profiles (:func:`probe_damage`).
    """
    source = source or calibration_source()
    sens = probe_damage(loaded, calibration, low, base, cache, labelled, progress, source)
    base_label = (base or FULL_PRECISION).label
    out = dict(profile)
    out["layers"] = [dict(layer) for layer in profile["layers"]]
    for i, layer in enumerate(out["layers"]):
        layer["sensitivity_kl"] = sens["kl"][i]
        if sens["accuracy"] is not None:
            layer["sensitivity_acc"] = sens["base_accuracy"] - sens["accuracy"][i]
    out["sensitivity"] = {"low": low.label, "base": base_label, "base_kl": sens["base_kl"],
                          "base_accuracy": sens["base_accuracy"], "labelled": labelled}
    per_sample = tuple(tuple(x) for x in sens["per_sample"])
    spearman = {}
    for estimator in ESTIMATORS:
        config = EntropyConfig(**{**profile["estimator"], "estimator": estimator,
                                  "linears": False})
        with _full_precision(cache):
            prof = run_profile(loaded, calibration, config, source)
        for modality in ("image", "text", "all"):
            rho, lo, hi = bootstrap_spearman(prof.values(modality), per_sample)
            spearman[f"{estimator}/{modality}"] = {"rho": rho, "ci90": [lo, hi]}
    out["spearman"] = spearman
    return out
