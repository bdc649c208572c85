"""One loaded model and everything computed on it, shared by the app, the CLI and benchmarks.

A :class:`Session` holds the model, its layout, the store of quantized block variants, the
lock, and memoised accuracies and layer scores. Plans are applied to the shared model in
place, so :meth:`Session.run` (apply the caller's plan, then run, under the lock) is the only
way to run the model: ``session.run(plan, lambda m: answer_batch(m.model, ...))``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from luq.apply import VariantStore
from luq.calibration import CalibrationConfig, calibration_batches
from luq.curve import order_curve
from luq.damage import allocate_selection, forget_frontiers
from luq.locks import FairRLock
from luq.memory import MemoryReport, model_layout, plan_memory
from luq.models.detail import set_image_detail
from luq.models.loading import LoadedModel
from luq.pipeline import add_sensitivity, run_profile
from luq.plan import BitPlan
from luq.profile import EntropyConfig, EntropyProfile
from luq.progress import Progress
from luq.quant.spec import FULL_PRECISION, QuantSpec
from luq.resources import process_rss_bytes
from luq.select import Selection, greedy_select, layer_order
from luq.tasks.calibration import CalibrationSource, calibration_source
from luq.tasks.evaluation import Evaluation, shapes_evaluation
from luq.tower import TowerWeights, tower_parts

T = TypeVar("T")
STATS_SAMPLES = 64  # calibration prompts behind GPTQ / AWQ / BiLLM statistics, everywhere
SCORED_ORDERS = ("entropy", "entropy-desc", "sensitivity")


class Session:
    """A loaded model and the operations every front end shares.

    Args:
        loaded: the model, its processor and adapter.
        evaluation: what :meth:`accuracy` measures (default: 100 shapes test questions).
        statistics: the calibration mix behind the statistics GPTQ/AWQ/BiLLM use (default:
            :data:`STATS_SAMPLES` prompts, alpha 0.5).
        source: where calibration samples come from (``luq.tasks.calibration_source``;
            default: the embedded shapes calibration split), for statistics and profiles.
    """

    def __init__(self, loaded: LoadedModel, evaluation: Evaluation | None = None,
                 statistics: CalibrationConfig | None = None,
                 source: CalibrationSource | None = None) -> None:
        self.loaded = loaded
        self.layout = model_layout(loaded.model, loaded.adapter)
        self.evaluation = evaluation or shapes_evaluation()
        self.statistics = statistics or CalibrationConfig(STATS_SAMPLES)
        self.source = source or calibration_source()
        self.store = self._new_store()
        self.lock: FairRLock = self.store.lock
        self._tower = TowerWeights(loaded.model, loaded.adapter)
        self._accuracy: dict[tuple, float] = {}
        self._scores: dict[tuple, list[float]] = {}
        self._gates: dict[tuple, threading.Lock] = {}  # one score computation per key
        self._gates_lock = threading.Lock()

    def _new_store(self) -> VariantStore:
        """Packed variants; statistics streamed block by block when a setting needs them."""
        return VariantStore(self.loaded.model, self.loaded.adapter,
                            calibration=self.calibration_inputs)

    def calibration_inputs(self) -> list[dict]:  # the calibration's model inputs
        return calibration_batches(self.loaded.processor, self.source.rows,
                                   self.source.text_prompts, self.statistics)

    name = property(lambda self: self.loaded.name)
    block_names = property(lambda self: self.layout.block_names)

    # -- running the model -------------------------------------------------------------------

    def run(self, plan: BitPlan | None, fn: Callable[[LoadedModel], T],
            background: bool = False) -> T:
        """Applies ``plan`` (None: full precision) and runs ``fn(loaded)``, under the lock.

        Missing variants are built first (a setting that uses statistics reads the calibration
        once, for every block). ``background`` runs wait for every foreground run asked.
        """
        with self.lock.background() if background else self.lock:
            self.store.restore() if plan is None else self.store.apply(plan)
            return fn(self.loaded)

    def prepare(self, specs: Sequence[QuantSpec], progress: Progress | None = None) -> None:
        """Builds every block's variant for each of ``specs`` up front."""
        self.store.prepare(specs, progress)

    def set_evaluation(self, evaluation: Evaluation) -> None:
        """Measures accuracy with ``evaluation`` from now on (memoised per evaluation key)."""
        with self.lock:
            self.evaluation = evaluation

    tower = property(lambda self: self._tower.spec, doc="The vision tower's setting.")

    def set_tower(self, spec: QuantSpec) -> None:
        """Puts the vision tower and projector at ``spec`` (``luq.tower``): every run, accuracy
        and memory figure from now on includes it."""
        with self.lock:
            self._tower.apply(spec)

    image_detail = property(lambda self: self.loaded.image_detail,
                            doc="How many image tokens a picture costs (luq.models.detail).")

    def set_image_detail(self, detail: str) -> None:
        """Pictures at ``detail`` from now on; what was built or measured through the old
        setting is dropped."""
        with self.lock:
            set_image_detail(self.loaded.processor, detail)
            self.loaded.image_detail = detail
            self._reset()

    def set_source(self, source: CalibrationSource) -> None:
        """Calibrates on ``source`` from now on: statistics, variants built with them and
        scores are dropped (a new source means new statistics), the model is restored."""
        with self.lock:
            if source.key != self.source.key:
                self.source = source
                self._reset()

    def _reset(self) -> None:
        """A new store, no scores, accuracies or frontiers; one lock, whatever the store."""
        self.store.restore()
        self.store = self._new_store()
        self.store.lock = self.lock
        self._scores.clear()
        self._accuracy.clear()
        forget_frontiers(self)

    def _key(self, plan: BitPlan | None) -> tuple:
        specs = tuple(a.spec for a in plan.layers) if plan is not None else ("full",)
        return (self.evaluation.key, self.tower.label, specs)

    def known_accuracy(self, plan: BitPlan | None) -> float | None:
        """The memoised accuracy of ``plan``, or None if it was never measured (no lock: a
        dict read, so a slider move never waits behind the model)."""
        return self._accuracy.get(self._key(plan))

    def accuracy(self, plan: BitPlan | None, background: bool = False) -> float:
        """Accuracy of ``plan`` under the session's evaluation, measured once per plan
        (``background``: after every foreground run asked meanwhile, as curves do)."""
        key = self._key(plan)
        if key in self._accuracy:  # a memo hit needs no lock (a slider move never waits)
            return self._accuracy[key]
        with self.lock.background() if background else self.lock:
            if (key := self._key(plan)) not in self._accuracy:
                self._accuracy[key] = self.run(plan, self.evaluation.score)
            return self._accuracy[key]

    # -- orders and plans --------------------------------------------------------------------

    def profile(self, calibration: CalibrationConfig | None = None,
                config: EntropyConfig | None = None,
                progress: Progress | None = None) -> EntropyProfile:
        """The entropy profile of the full-precision model (cached on disk)."""
        return self.run(None, lambda loaded: run_profile(
            loaded, calibration or CalibrationConfig(), config or EntropyConfig(), self.source,
            progress), background=True)

    def sensitivity(self, low: QuantSpec, base: QuantSpec | None,
                    calibration: CalibrationConfig | None = None, estimator: str = "kmeans",
                    progress: Progress | None = None, profile: dict | None = None,
                    labelled: int = 0) -> dict:
        """``profile`` (default: this estimator's, cached) plus each layer's measured damage
        at ``low`` with the others at ``base``, and Spearman rho of entropy with it
        (:func:`luq.pipeline.add_sensitivity`; ``labelled`` shapes questions add the
        accuracy drop)."""
        calibration = calibration or CalibrationConfig()
        if profile is None:
            profile = self.profile(calibration, EntropyConfig(estimator), progress).to_dict()
        self.prepare([low] + ([base] if base else []), progress)
        # not under the lock: the probe takes it one step at a time (others run meanwhile)
        return add_sensitivity(self.loaded, profile, calibration, low, base, self.store,
                               labelled, progress, self.source)

    def scores(self, order: str, high: QuantSpec, low: QuantSpec) -> list[float] | None:
        """Per-block scores an order sorts by (entropy, or damage at ``low``), memoised."""
        if order not in SCORED_ORDERS:
            return None
        key = ("sensitivity", low, high) if order == "sensitivity" else ("entropy",)
        with self._gates_lock:
            gate = self._gates.setdefault(key, threading.Lock())
        with gate:  # one computation per key; the session lock is taken only inside it
            if key not in self._scores:
                if order == "sensitivity":
                    data = self.sensitivity(low, high)
                    scores = [x["sensitivity_kl"] for x in data["layers"]]
                else:
                    scores = self.profile().values()
                with self.lock:
                    self._scores[key] = scores
            return self._scores[key]

    def order(self, order: str, high: QuantSpec, low: QuantSpec, seed: int = 0) -> list[str]:
        """Block names in the order they go ultra-low."""
        return layer_order(self.block_names, order, self.scores(order, high, low), seed)

    def plan_for_budget(self, budget_bytes: int, high: QuantSpec, low: QuantSpec,
                        order: str = "entropy", seed: int = 0, parts: dict | None = None,
                        types: Sequence[QuantSpec] | None = None,
                        min_speed: float | None = None) -> Selection:
        """Greedy LUQ selection under a memory budget, or with ``order="allocate"`` the
        allocator's plan among ``types`` (:mod:`luq.damage`), predicted to decode at least
        ``min_speed`` x uniform Q4_K_M's speed when given; ValueError below the minimum."""
        if order == "allocate":
            return allocate_selection(self, high, low, budget_bytes, None, types,
                                      parts or tower_parts(self.tower), min_speed=min_speed)
        return greedy_select(self.layout, self.order(order, high, low, seed), high, low,
                             budget_bytes, order_name=order, model=self.name,
                             parts=parts or tower_parts(self.tower))

    def plan_for_accuracy(self, min_accuracy: float, high: QuantSpec, low: QuantSpec,
                          order: str = "entropy", seed: int = 0,
                          budget_bytes: int | None = None,
                          types: Sequence[QuantSpec] | None = None) -> Selection:
        """The paper's second stopping rule: keep sending blocks ultra-low while the
        evaluation stays at or above ``min_accuracy`` (and, if given, until the budget fits)."""
        if not 0.0 <= min_accuracy <= 1.0 and self.evaluation.metric == "accuracy":
            raise ValueError(f"min_accuracy must lie in [0, 1], got {min_accuracy}")
        if order == "allocate":
            return allocate_selection(self, high, low, budget_bytes, min_accuracy, types,
                                      tower_parts(self.tower))
        return greedy_select(self.layout, self.order(order, high, low, seed), high, low,
                             budget_bytes, evaluate=self.accuracy, min_accuracy=min_accuracy,
                             order_name=order, model=self.name, parts=tower_parts(self.tower))

    def resident(self, plan: BitPlan | None) -> dict:
        """What the model holds under ``plan``: ``resident_weight_bytes`` (modules in use, dense
        caches included), ``accounted_bytes`` (stored format), the process RSS."""
        resident = self.store.resident_bytes(plan)  # no lock: the model is not swapped
        return {"accounted_bytes": self.memory(plan).total_bytes,
                "resident_weight_bytes": resident, "rss_bytes": process_rss_bytes()}

    def memory(self, plan: BitPlan | None) -> MemoryReport:
        """Accounted weight memory of ``plan`` (None: full precision)."""
        return plan_memory(self.layout, plan or self.uniform(FULL_PRECISION),
                           tower_parts(self.tower))

    def uniform(self, spec: QuantSpec) -> BitPlan:  # every block at ``spec``
        return BitPlan.uniform(self.block_names, spec)

    def budget_range(self, high: QuantSpec, low: QuantSpec) -> tuple[int, int, int]:
        """(every block ``low``, the default budget, full precision) in bytes; the default is
        halfway between every block ``low`` and every block ``high``."""
        lo = self.memory(self.uniform(low)).total_bytes
        return lo, (lo + self.memory(self.uniform(high)).total_bytes) // 2, \
            self.memory(None).total_bytes

    def curve(self, order: str, high: QuantSpec, low: QuantSpec, measure: bool = True,
              progress: Progress | None = None) -> list[dict]:
        """The order's memory-vs-accuracy curve (:func:`luq.curve.order_curve`).

        With ``measure`` every point is evaluated (memoised); without, only the points already
        measured are returned, so a slider move never waits for new evaluations.
        """
        scores = self.scores(order, high, low)
        total = len(self.block_names) + 1
        done = [0]

        def accuracy(plan: BitPlan) -> float | None:
            if not measure:
                return self.known_accuracy(plan)
            value = self.accuracy(plan, background=True)
            done[0] += 1
            if progress:
                progress(min(done[0], total), total, f"{order}: {plan.count(low)} ultra-low")
            return value

        tower = self.memory(None).total_bytes - plan_memory(  # the tower's bytes, any plan
            self.layout, self.uniform(FULL_PRECISION)).total_bytes
        return [{**p, "memory_bytes": p["memory_bytes"] + tower}
                for p in order_curve(self.layout, order, high, low, scores, accuracy)]

    def point(self, plan: BitPlan | None, label: str, measure: bool = True) -> dict | None:
        """One plan as a curve point (``spec``, memory, average bits, accuracy)."""
        acc = self.accuracy(plan, background=True) if measure else self.known_accuracy(plan)
        if acc is None:
            return None
        report = self.memory(plan)
        return {"spec": label, "memory_bytes": report.total_bytes,
                "decoder_bytes": report.decoder_bytes, "avg_bits": round(report.avg_bits, 4),
                "accuracy": acc}

    def sweep(self, high: QuantSpec, low: QuantSpec, orders: Sequence[str],
              uniform_specs: Sequence[QuantSpec] = (), progress: Progress | None = None
              ) -> dict:
        """Every order's curve, the uniform baselines (``uniform_specs`` and ``low``
        everywhere) and full precision, all measured."""
        curves = {order: self.curve(order, high, low, True, progress) for order in orders}
        uniform = [self.point(self.uniform(s), s.label) for s in [*uniform_specs, low]]
        return {"model": self.name, "high": high.label, "low": low.label,
                "evaluation": self.evaluation.key, "metric": self.evaluation.metric,
                "curves": curves, "uniform": uniform, "full": self.point(None, "fp16")}
