"""What a session's accuracy axis measures: one number for a model as it stands.

:func:`shapes_evaluation` is the embedded model's fast default (the first ``n`` test
questions in one batch, first answer word); :func:`task_evaluation` measures any task's
headline metric on a fixed sample of its documents (MME perception, TextVQA accuracy, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from luq.models.loading import LoadedModel
from luq.tasks.data import load_docs
from luq.tasks.registry import get_task
from luq.tasks.run import run_task


@dataclass(frozen=True)
class Evaluation:
    """A named metric on a fixed sample.

    Attributes:
        key: identifies the data and the metric (memoised accuracies are keyed by it).
        metric: the headline metric's name, for axis labels (``accuracy``, ``perception``).
        score: ``score(loaded) -> float`` on the model with the caller's plan applied.
        description: one line saying what is measured on what.
    """

    key: str
    metric: str
    score: Callable[[LoadedModel], float]
    description: str = ""


def evaluation_key(task: str, data: str | None = None, limit: int | None = None,
                   harness: str = "official") -> str:
    """The key of :func:`shapes_evaluation` / :func:`task_evaluation` for these arguments,
    known without loading any data (so a front end can tell whether anything changed).
    The rule set is part of it unless it is the official one (or the task is shapes, which
    both score alike)."""
    if task == "shapes" and data is None:
        return f"shapes/test/{limit or 100}"
    get_task(task).rules(harness)
    rules = "" if harness == "official" else f"/{harness}"
    return f"{task}/{data or get_task(task).hub_ids[0]}/{limit}{rules}"


def shapes_evaluation(n: int = 100) -> Evaluation:
    """The first ``n`` questions of the embedded test split, first answer word (greedy)."""
    from luq.embedded import load_split
    from luq.evaluation import evaluate

    rows = load_split("test", n)

    def score(loaded: LoadedModel) -> float:
        # one-word answers are one token: the first greedy token decides them
        return evaluate(loaded.model, loaded.processor, rows, batch_size=n,
                        max_new_tokens=1).accuracy

    return Evaluation(evaluation_key("shapes", None, n), "accuracy", score,
                      f"exact match on {n} fixed test questions")


def task_evaluation(task: str, data: str | None = None, limit: int | None = 100,
                    batch_size: int = 8, harness: str = "official") -> Evaluation:
    """The task's headline metric on a deterministic sample of its documents, scored by the
    ``harness`` rule set ("official" or "lmms-eval").

    Raises:
        luq.tasks.DataUnavailable: the data is not here and cannot be downloaded.
    """
    spec = get_task(task)
    docs = load_docs(spec, data, limit)

    def score(loaded: LoadedModel) -> float:
        result = run_task(loaded.model, loaded.processor, spec, docs, batch_size,
                          harness=harness)
        return float(result[spec.headline])

    where = data or spec.hub_ids[0]
    rules = "" if harness == "official" else f" ({harness} rules)"
    return Evaluation(evaluation_key(spec.name, data, limit, harness), spec.headline, score,
                      f"{spec.name} {spec.headline}{rules} on {len(docs)} documents of "
                      f"{where}")


def evaluation_for(task: str, data: str | None = None, limit: int | None = None,
                   harness: str = "official") -> Evaluation:
    """The embedded model's fast shapes evaluation when the task is the built-in shapes split,
    else :func:`task_evaluation` (the one choice the CLI and the app make)."""
    if task == "shapes" and data is None:
        return shapes_evaluation(limit or 100)
    return task_evaluation(task, data, limit, harness=harness)
