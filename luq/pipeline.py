"""End-to-end steps shared by the CLI and the app: profile, select, sweep.

Each step takes a loaded model and plain settings and returns plain data; caching of
profiles lives here so that both front ends reuse it.
"""

from __future__ import annotations

from luq.activations import record_batches
from luq.apply import LayerVariantCache
from luq.calibration import CalibrationConfig, calibration_batches
from luq.evaluation import EvalResult, evaluate
from luq.memory import model_layout, plan_memory
from luq.models.loading import LoadedModel
from luq.plan import BitPlan
from luq.profile import (
    EntropyConfig,
    EntropyProfile,
    cache_key,
    cached,
    fingerprint,
    profile_entropy,
)
from luq.progress import Progress
from luq.quant.registry import get_method
from luq.quant.spec import FULL_PRECISION, QuantSpec
from luq.select import Selection, greedy_select, layer_order, mixed_plan
from luq.sensitivity import bootstrap_spearman, probe


def calibration_data(split: str = "calibration"):
    """The embedded shapes dataset split and its text-only prompts (the default source)."""
    from luq.embedded import load_split, text_prompts

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
                    cache: LayerVariantCache | None = None,
                    progress: Progress | None = None) -> dict:
    """Adds measured sensitivity and entropy-vs-sensitivity Spearman rho to a profile dict.

    Each layer gains ``sensitivity_kl`` (and ``sensitivity_acc``, the accuracy drop, when
    ``labelled`` questions of the embedded test split are used). The top level gains
    ``spearman``: for each estimator (k-means, histogram, clipped histogram) and modality, the
    rank correlation of entropy with ``sensitivity_kl`` and a 90 % bootstrap interval over
    calibration samples. The probe is cached on disk like profiles.
    """
    dataset, prompts = calibration_data()
    cache = cache or variant_cache(loaded, [low] + ([base] if base else []), calibration)

    def compute() -> dict:
        batches = calibration_batches(loaded.processor, dataset, prompts, calibration)
        evaluate_now = None
        if labelled:
            rows = calibration_data("test")[0].select(range(labelled))

            def evaluate_now() -> float:
                return evaluate(loaded.model, loaded.processor, rows).accuracy

        sens = probe(cache, batches, low, base, evaluate_now, progress)
        return {"kl": list(sens.kl), "per_sample": [list(x) for x in sens.per_sample],
                "base_kl": sens.base_kl, "base_accuracy": sens.base_accuracy,
                "accuracy": list(sens.accuracy) if sens.accuracy is not None else None}

    base_label = (base or FULL_PRECISION).label
    key = cache_key(model=loaded.name, weights=fingerprint(loaded.model),
                    calibration=calibration.key(), low=low, base=base_label, labelled=labelled,
                    stats=cache.stats is not None)
    sens = cached("sensitivity", key, compute)
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
    for estimator in ("kmeans", "hist", "hist-clip"):
        config = EntropyConfig(**{**profile["estimator"], "estimator": estimator,
                                  "linears": False})
        prof = run_profile(loaded, calibration, config, dataset, prompts)
        for modality in ("image", "text", "all"):
            rho, lo, hi = bootstrap_spearman(prof.values(modality), per_sample)
            spearman[f"{estimator}/{modality}"] = {"rho": rho, "ci90": [lo, hi]}
    out["spearman"] = spearman
    return out


def sensitivity_report(loaded: LoadedModel, calibration: CalibrationConfig, low: QuantSpec,
                       base: QuantSpec | None, cache: LayerVariantCache, estimator: str,
                       progress: Progress | None = None) -> dict:
    """Profile (cached) plus measured sensitivity and Spearman rho, for the UI."""
    profile = run_profile(loaded, calibration, EntropyConfig(estimator), progress=progress)
    return add_sensitivity(loaded, profile.to_dict(), calibration, low, base, cache=cache,
                           progress=progress)


def needs_statistics(specs) -> bool:
    """Whether any setting uses calibration statistics (GPTQ, AWQ, BiLLM's Hessian)."""
    return any(get_method(s.method).uses_calibration for s in specs)


def collect_statistics(loaded: LoadedModel, calibration: CalibrationConfig | None = None,
                       progress: Progress | None = None) -> dict:
    """Input statistics of every decoder linear over the calibration batches (one pass)."""
    dataset, prompts = calibration_data()
    batches = calibration_batches(loaded.processor, dataset, prompts,
                                  calibration or CalibrationConfig())
    return record_batches(loaded.model, loaded.adapter, batches, progress, input_stats=True,
                          max_tokens=16).stats


def variant_cache(loaded: LoadedModel, specs, calibration: CalibrationConfig | None = None,
                  progress: Progress | None = None) -> LayerVariantCache:
    """A :class:`~luq.apply.LayerVariantCache`, with calibration statistics when ``specs``
    use them."""
    stats = collect_statistics(loaded, calibration, progress) if needs_statistics(specs) \
        else None
    return LayerVariantCache(loaded.model, loaded.adapter, stats)


def evaluate_plan(loaded: LoadedModel, cache: LayerVariantCache, plan: BitPlan, rows,
                  progress: Progress | None = None) -> EvalResult:
    """Accuracy of the model under ``plan`` (applied by swapping) on ``rows``."""
    with cache.lock:
        cache.apply(plan)
        return evaluate(loaded.model, loaded.processor, rows, progress=progress)


def sweep(loaded: LoadedModel, profile: EntropyProfile | None, high: QuantSpec,
          low: QuantSpec, rows, orders=("entropy", "entropy-desc", "random", "depth"),
          random_seeds: int = 5, sensitivity: list[float] | None = None,
          uniform_bits=(4, 3, 2), calibration: CalibrationConfig | None = None,
          progress: Progress | None = None, uniform_methods=("rtn",)) -> dict:
    """The memory-vs-accuracy curve: every order x every number of ultra-low blocks.

    Returns a dict with ``points`` (order, seed, n_low, memory_bytes, decoder_bytes,
    avg_bits, accuracy), ``uniform`` (each of ``uniform_methods`` at ``uniform_bits`` with
    the high setting's group size, and ``low`` everywhere) and ``full`` (the unquantized
    model).
    """
    layout = model_layout(loaded.model, loaded.adapter)
    uniform_specs = [QuantSpec(m, b, high.group_size) for m in uniform_methods
                     for b in uniform_bits]
    cache = variant_cache(loaded, [high, low, *uniform_specs], calibration)
    names = layout.block_names
    runs = []
    for order in orders:
        if order == "random":
            runs += [("random", s, layer_order(names, "random", seed=s))
                     for s in range(random_seeds)]
        elif order == "sensitivity":
            if sensitivity is not None:
                runs.append((order, 0, layer_order(names, order, sensitivity)))
        elif order.startswith("entropy"):
            if profile is not None:
                runs.append((order, 0, layer_order(names, order, profile.values())))
        else:
            runs.append((order, 0, layer_order(names, order)))
    total = len(runs) * (len(names) + 1) + len(uniform_specs) + 2
    done = 0
    memo: dict[frozenset, float] = {}  # the same set of ultra-low blocks is evaluated once

    def tick(message: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, message)

    points = []
    for order, seed, ordered in runs:
        for n in range(len(names) + 1):
            key = frozenset(ordered[:n])
            plan, report = mixed_plan(layout, high, low, ordered[:n], order)
            if key not in memo:
                memo[key] = evaluate_plan(loaded, cache, plan, rows).accuracy
            points.append({"order": order, "seed": seed, "n_low": n,
                           "memory_bytes": report.total_bytes,
                           "decoder_bytes": report.decoder_bytes,
                           "avg_bits": round(report.avg_bits, 4), "accuracy": memo[key]})
            tick(f"{order} n_low={n}")
    uniform = []
    for spec in [*uniform_specs, low]:
        plan = BitPlan.uniform(names, spec)
        report = plan_memory(layout, plan)
        uniform.append({"spec": spec.label, "memory_bytes": report.total_bytes,
                        "decoder_bytes": report.decoder_bytes,
                        "avg_bits": round(report.avg_bits, 4),
                        "accuracy": evaluate_plan(loaded, cache, plan, rows).accuracy})
        tick(f"uniform {spec.label}")
    cache.restore()
    fp_report = plan_memory(layout, BitPlan.uniform(names, FULL_PRECISION))
    full = {"memory_bytes": fp_report.total_bytes, "decoder_bytes": fp_report.decoder_bytes,
            "accuracy": evaluate(loaded.model, loaded.processor, rows).accuracy}
    tick("full precision")
    return {"model": loaded.name, "high": high.label, "low": low.label, "n": len(rows),
            "points": points, "uniform": uniform, "full": full}
