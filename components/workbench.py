"""Process-level model cache and the per-model workbench the panels share.

Models live here, not in ``gr.State`` (which must be deep-copyable). A workbench holds a
loaded model, its layout, the cache of quantized block variants and memoised accuracies.
Because plans are applied to the shared model in place, every request that runs the model
applies its own plan under ``cache.lock`` first, so concurrent users never see another's plan.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import gradio as gr

from luq.apply import LayerVariantCache
from luq.calibration import CalibrationConfig
from luq.embedded import load_split
from luq.evaluation import evaluate
from luq.memory import ModelLayout, model_layout
from luq.models.loading import LoadedModel, ModelLoadError, load_model
from luq.pipeline import collect_statistics, needs_statistics
from luq.plan import BitPlan

EVAL_QUESTIONS = 100  # the fixed evaluation sample of the Budget tab
MAX_MODELS = 2


@dataclass
class Workbench:
    """Everything the UI keeps for one loaded model."""

    loaded: LoadedModel
    layout: ModelLayout
    cache: LayerVariantCache
    accuracy: dict[tuple, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def lock(self) -> threading.RLock:
        return self.cache.lock

    def eval_rows(self):
        return load_split("test", EVAL_QUESTIONS)

    def ready(self, specs) -> LayerVariantCache:
        """The variant cache, with calibration statistics collected first if any of
        ``specs`` uses them (once per model: every later variant sees the same statistics)."""
        with self.lock:
            if self.cache.stats is None and needs_statistics(specs):
                self.cache.restore()
                self.cache.stats = collect_statistics(self.loaded, CalibrationConfig(samples=32))
        return self.cache

    def known_accuracy(self, plan: BitPlan) -> float | None:
        """The memoised accuracy of ``plan``, or None if it was never evaluated."""
        return self.accuracy.get(tuple(a.spec for a in plan.layers))

    def plan_accuracy(self, plan: BitPlan) -> float:
        """Accuracy of ``plan`` on the fixed sample, evaluated once per distinct plan."""
        key = tuple(a.spec for a in plan.layers)
        if key not in self.accuracy:
            cache = self.ready(set(key))
            with self.lock:
                cache.apply(plan)
                # one word answers are one token: the first greedy token decides them
                self.accuracy[key] = evaluate(self.loaded.model, self.loaded.processor,
                                              self.eval_rows(), batch_size=EVAL_QUESTIONS,
                                              max_new_tokens=1).accuracy
        return self.accuracy[key]


class ModelCache:
    """A bounded LRU of workbenches, one per model name."""

    def __init__(self, max_models: int = MAX_MODELS) -> None:
        self.max_models = max_models
        self._items: OrderedDict[str, Workbench] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str) -> Workbench:
        """The workbench of ``name``, loading the model on first use.

        Raises:
            luq.models.loading.ModelLoadError: the model cannot be loaded (e.g. offline).
        """
        with self._lock:
            if name in self._items:
                self._items.move_to_end(name)
                return self._items[name]
        loaded = load_model(name)  # outside the lock: loading can take long
        bench = Workbench(loaded, model_layout(loaded.model, loaded.adapter),
                          LayerVariantCache(loaded.model, loaded.adapter))
        with self._lock:
            self._items[name] = bench
            while len(self._items) > self.max_models:
                self._items.popitem(last=False)
        return bench

    def names(self) -> list[str]:
        return list(self._items)


MODELS = ModelCache()


def bench_or_error(model: str) -> Workbench:
    """The workbench of ``model``, or a ``gr.Error`` saying why it cannot be loaded."""
    try:
        return MODELS.get(model)
    except (ModelLoadError, ValueError) as err:
        raise gr.Error(f"Could not load {model}: {err}") from None
