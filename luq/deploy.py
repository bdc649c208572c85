"""A session's plans as GGUF files run by llama.cpp: exported once per plan, loaded on demand.

The converter runs once per model (its unquantized GGUF and the ``mmproj`` are reused), the
importance matrix is computed once per calibration source, and each plan's GGUF is then only
ggml's re-quantization of the base: what the Budget tab's download, the arena's llama.cpp
column and ``eval --engine llamacpp`` share.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from luq.calibration import CalibrationConfig, calibration_batches
from luq.plan import BitPlan
from luq.progress import Progress

IMATRIX_SAMPLES = 64  # calibration prompts behind the importance matrix


def example_question(model_name: str) -> str:
    """A question the model can answer, for the command lines of an export's README."""
    return "what color is the circle ?" if model_name == "embedded" else "Describe the image."


def engine_prompt(processor, text: str) -> str:
    """``text`` as the model's own tokenizer would normalise it before splitting.

    llama.cpp reads the SentencePiece model, not transformers' normalizer: the embedded
    model's tokenizer lowercases first, so its questions go to llama.cpp lowercased.
    Other normalizers are left to llama.cpp.
    """
    from tokenizers import normalizers

    tokenizer = getattr(processor, "tokenizer", processor)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and isinstance(backend.normalizer, normalizers.Lowercase):
        return text.lower()
    return text


def llamacpp_answerer(engine, processor, replies: list | None = None):
    """``answer(images, prompts, max_tokens) -> texts`` through a llama.cpp engine (the
    :func:`luq.tasks.run_task` hook); each :class:`~luq.engines.llamacpp.Answer` is also
    appended to ``replies`` (for the engine's speed report)."""
    def answer(images, prompts, max_tokens):
        out = [engine.answer(engine_prompt(processor, p), im, max_tokens)
               for im, p in zip(images, prompts)]
        if replies is not None:
            replies.extend(out)
        return [a.text.strip() for a in out]

    return answer


def session_imatrix(session, plan: BitPlan, samples: int = IMATRIX_SAMPLES,
                    progress: Progress | None = None):
    """The importance matrix of ``plan``'s blocks from the session's calibration source
    (call under :meth:`Session.run`)."""
    from luq.export.gguf import compute_imatrix

    loaded = session.loaded
    batches = calibration_batches(loaded.processor, session.source.rows,
                                  session.source.text_prompts, CalibrationConfig(samples))
    return compute_imatrix(loaded.model, plan, batches, progress)


class GGUFStore:
    """One session's GGUF exports, by plan, in a folder of its own.

    Safe for concurrent requests: a plan is exported once (others asking for it wait for
    that export); the first export (converter, mmproj, importance matrix: they read the
    float model) runs under the session's lock, later ones only re-quantize the base file
    and leave the model to other users; an engine dropped from the loaded set is freed only
    when no request holds it any more.

    Args:
        session: the :class:`~luq.session.Session` whose float model is exported.
        root: folder for the files (a temporary one, removed by :meth:`close`, when None).
        ultra_low: GGUF type of ultra-low blocks (``IQ1_M``, ``Q1_0``, ``Q2_K``, ``IQ2_XXS``);
            None takes the type table's.
        engines: llama.cpp engines kept loaded (the most recently used plans).
        n_threads: threads of each engine.
    """

    def __init__(self, session, root: str | Path | None = None, ultra_low: str | None = None,
                 engines: int = 2, n_threads: int = 2) -> None:
        self.session, self.ultra_low, self.n_threads = session, ultra_low, n_threads
        self._own = root is None
        self.root = Path(tempfile.mkdtemp(prefix="luq-gguf-")) if root is None else Path(root)
        self._lock = threading.Lock()  # guards the dicts only, never held during work
        self._gates: dict[str, threading.Lock] = {}
        self._base: Path | None = None
        self._base_notes: list[str] = []
        self._imatrix: tuple[str, object] | None = None  # (source key, matrix)
        self._exports: dict[str, object] = {}
        self._engines: OrderedDict[str, object] = OrderedDict()
        self._max_engines = engines

    def key(self, plan: BitPlan) -> str:
        """Identifies an export: the blocks' settings, the ultra-low type, the calibration."""
        layers = [[a.name, a.spec.label] for a in plan.layers]
        text = json.dumps([layers, self.ultra_low, self.session.source.key,
                           self.session.tower.label])
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def _gate(self, key: str) -> threading.Lock:
        with self._lock:
            return self._gates.setdefault(key, threading.Lock())

    def export(self, plan: BitPlan, progress: Progress | None = None):
        """The plan's :class:`~luq.export.gguf.GGUFExport` (written the first time)."""
        from luq.export.gguf import export_gguf

        plan.check_layers(self.session.block_names)
        key = self.key(plan)
        with self._gate(key):
            with self._lock:
                if key in self._exports:
                    return self._exports[key]

            def build(loaded):  # under the session's lock: base and imatrix are ours here
                source = self.session.source.key
                if self._imatrix is None or self._imatrix[0] != source:
                    self._imatrix = (source, session_imatrix(self.session, plan,
                                                             progress=progress))
                first = self._base is None
                result = export_gguf(loaded.model, plan, self.root / key, loaded.processor,
                                     imatrix=self._plan_imatrix(plan), ultra_low=self.ultra_low,
                                     keep_base=first, base=self._base,
                                     question=example_question(self.session.name),
                                     mmproj_type=self.session.tower.type or None,
                                     progress=progress)
                if first:  # keep the converter's output (and mmproj) for the next plans
                    self._base = self.root / "base" / result.base.name
                    self._base.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(result.base, self._base)
                    for f16 in (self.root / key).glob("mmproj-*-f16.gguf"):  # the tower's base
                        shutil.copy(f16, self._base.parent / f16.name)
                    self._base_notes = [n for n in result.notes if n.startswith("no mmproj")]
                    return dataclasses.replace(result, base=self._base)
                return dataclasses.replace(result, notes=[*self._base_notes, *result.notes])

            source = self.session.source.key
            if self._base is None or self._imatrix is None or self._imatrix[0] != source:
                # reads the float model: the lock, after the foreground runs
                result = self.session.run(None, build, background=True)
            else:  # only ggml re-quantizes the base file: other users run meanwhile
                result = build(self.session.loaded)
            with self._lock:
                self._exports[key] = result
            return result

    def _plan_imatrix(self, plan: BitPlan) -> dict:
        """The source's importance matrix, with the vectors ggml-typed blocks were quantized
        with in the variant store: a ggml setting's GGUF tensor is then byte for byte its
        variant (built here first if it is not yet)."""
        ggml_specs = [s for s in plan.specs() if s.method == "ggml"]
        if not ggml_specs:
            return self._imatrix[1]
        store = self.session.store
        store.prepare(ggml_specs)
        blocks = tuple(f"{a.name}." for a in plan.layers if a.spec.method == "ggml")
        return {**self._imatrix[1],
                **{k: v for k, v in store.imatrix.items() if k.startswith(blocks)}}

    def ready(self, plan: BitPlan):
        """The plan's export if it was written already, else None (never exports)."""
        with self._lock:
            return self._exports.get(self.key(plan))

    def engine(self, plan: BitPlan, progress: Progress | None = None):
        """The plan's GGUF loaded in llama.cpp (a :class:`~luq.engines.llamacpp.LlamaCppModel`)."""
        from luq.engines.llamacpp import LlamaCppModel

        export = self.export(plan, progress)
        key = self.key(plan)
        with self._gate("engine:" + key):
            with self._lock:
                if key in self._engines:
                    self._engines.move_to_end(key)
                    return self._engines[key]
            engine = LlamaCppModel(export.model, export.mmproj, n_threads=self.n_threads)
            with self._lock:
                self._engines[key] = engine
                while len(self._engines) > self._max_engines:
                    self._engines.popitem(last=False)  # freed once no request holds it
            return engine

    def close(self) -> None:
        """Drops the engines and exports; removes the folder if the store made it."""
        with self._lock:
            self._engines.clear()
            self._exports.clear()
        if self._own:
            shutil.rmtree(self.root, ignore_errors=True)


def eval_llamacpp(session, plan, task: str, docs, gguf_dir: str | None = None,
                  ultra_low: str | None = None, threads: int = 2, batch_size: int = 8,
                  harness: str = "official", progress: Progress | None = None
                  ) -> tuple[dict, dict]:
    """``task``'s metrics answered by llama.cpp from the plan's GGUF + mmproj (the plan: full
    precision, F16, when None), and llama.cpp's report (files, block types, speed).

    Raises:
        ValueError: the model has no mmproj GGUF, so llama.cpp cannot answer image questions.
    """
    from luq.quant.spec import FULL_PRECISION
    from luq.tasks import run_task

    plan = plan or BitPlan.uniform(session.block_names, FULL_PRECISION)
    store = GGUFStore(session, gguf_dir, ultra_low, engines=1, n_threads=threads)
    try:
        export = store.export(plan, progress)
        if export.mmproj is None:
            raise ValueError(f"{session.name}: no mmproj GGUF ({'; '.join(export.notes)}): "
                             "llama.cpp cannot answer image questions with this model")
        engine = store.engine(plan)
        answers: list = []
        answer = llamacpp_answerer(engine, session.loaded.processor, answers)
        result = run_task(None, None, task, docs, batch_size, progress, answer=answer,
                          harness=harness)
        report = engine.report(answers)
        report.pop("answers")
        return result, {"engine": "llama.cpp", "gguf": str(export.model),
                        "mmproj": str(export.mmproj), "block_types": export.block_types,
                        "notes": export.notes, **report}
    finally:
        store.close()
