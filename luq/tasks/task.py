"""What a benchmark task is: where its documents come from, its prompt, its scoring."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

Record = dict
"""What a task's ``score`` returns for one document: plain JSON-ready values, with ``score``
(the document's own number: right or wrong, VQA accuracy, ANLS)."""

HARNESSES = ("official", "lmms-eval")
"""Rule sets: each benchmark's own rules, or lmms-eval 0.7.3's as it runs (quirks included)."""


@dataclass(frozen=True)
class Rules:
    """How one rule set scores a task.

    Attributes:
        score: (document, stripped reply) -> a per-document record.
        aggregate: all records -> the metrics (JSON-ready).
    """

    score: Callable[[dict, str], Record]
    aggregate: Callable[[list[Record]], dict]


@dataclass(frozen=True)
class ImageJoin:
    """Images kept in a second config of the same dataset, joined by id (GQA).

    Attributes:
        config: the config holding the images.
        split: its split.
        key: the documents' column naming the image.
        id_column: the image rows' id column (``key`` matches it).
    """

    config: str
    split: str
    key: str
    id_column: str = "id"


@dataclass(frozen=True)
class Task:
    """One benchmark, lmms-eval style: one concept per field.

    Attributes:
        name: the registry name (lmms-eval's task name).
        description: one line for listings.
        hub_ids: hub dataset ids, tried in order; both ``lmms-lab-encoder/X`` and
            ``lmms-lab/X`` (lmms-eval moved its datasets in 2026; contents are the same).
        config: the dataset config (None: the default one).
        split: the split that is evaluated.
        columns: columns the prompt and the scorer read (checked on load).
        prompt: document -> the text the model gets with the document's image.
        score: (document, reply) -> a per-document record.
        aggregate: all records -> the metrics (JSON-ready).
        headline: the metric to report first.
        max_new_tokens: greedy decoding budget.
        group_column: documents sharing ``group_key(doc[group_column])`` are sampled together
            (MME's two questions per image, MMBench's rotations of a question).
        group_key: maps the column's value to the group key.
        images: where images come from when the documents carry none (GQA).
        builtin: split name -> the documents, when they ship with luq (the shapes
            splits); None for hub datasets.
        lmms_eval: lmms-eval's rules where they differ from ``score`` / ``aggregate``
            (:mod:`luq.tasks.metrics.lmms_eval`); None when lmms-eval scores the task the
            same way.
    """

    name: str
    description: str
    hub_ids: tuple[str, ...]
    config: str | None
    split: str
    columns: tuple[str, ...]
    prompt: Callable[[dict], str]
    score: Callable[[dict, str], Record]
    aggregate: Callable[[list[Record]], dict]
    headline: str
    max_new_tokens: int = 16
    group_column: str | None = None
    group_key: Callable[[object], object] = lambda value: value
    images: ImageJoin | None = None
    builtin: Callable[[str], object] | None = None
    lmms_eval: Rules | None = None

    def __post_init__(self) -> None:
        if not self.name or self.max_new_tokens < 1:
            raise ValueError(f"task {self.name!r}: needs a name and max_new_tokens >= 1")
        if self.builtin is None and not self.hub_ids:
            raise ValueError(f"task {self.name!r}: no hub id and no built-in documents")

    def rules(self, harness: str = "official") -> Rules:
        """The rule set ``harness`` ("official" or "lmms-eval") scores this task by.

        Raises:
            ValueError: an unknown harness; the message lists the known ones.
        """
        if harness not in HARNESSES:
            raise ValueError(f"unknown harness {harness!r}; known: {', '.join(HARNESSES)}")
        if harness == "lmms-eval" and self.lmms_eval is not None:
            return self.lmms_eval
        return Rules(self.score, self.aggregate)

    @property
    def source(self) -> str:
        """Where the documents come from by default, for messages and cache keys."""
        return "luq (built in)" if self.builtin is not None else self.hub_ids[0]


def mean_by(records: Iterable[Record], key: str, value: str = "score") -> dict[str, float]:
    """Mean of ``record[value]`` per distinct ``record[key]``, keys sorted."""
    groups: dict[str, list[float]] = {}
    for record in records:
        groups.setdefault(str(record[key]), []).append(float(record[value]))
    return {k: sum(v) / len(v) for k, v in sorted(groups.items())}


def mean(records: list[Record], value: str = "score") -> float:
    """Mean of ``record[value]``."""
    if not records:
        raise ValueError("nothing to aggregate: no documents were scored")
    return sum(float(r[value]) for r in records) / len(records)
