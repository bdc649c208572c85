"""Calibration samples drawn from a task's documents (or any image+question data)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from datasets import Dataset, Features, Image, Value

from luq.tasks.data import load_docs
from luq.tasks.predictions import text_rows
from luq.tasks.registry import TASKS, get_task
from luq.tasks.task import Task

ROW_FEATURES = Features({"image": Image(), "question": Value("string")})


@dataclass(frozen=True)
class CalibrationSource:
    """What :func:`luq.calibration.calibration_batches` needs, and where it came from.

    Attributes:
        rows: ``image`` and ``question`` columns (a ``datasets.Dataset``).
        text_prompts: text-only prompts (the same questions, without images).
        key: identifies the source (task, data, split, limit, seed) for cache keys.
    """

    rows: Dataset
    text_prompts: list[str]
    key: str


def calibration_source(source: Task | str | None = None, limit: int | None = None, *,
                       data: str | None = None, split: str | None = None,
                       seed: int = 0) -> CalibrationSource:
    """Calibration rows and text prompts from a task, or from any image+question data.

    Args:
        source: a task (name), or a data source (hub id, folder, parquet) whose rows have
            ``image`` and ``question``; None: the embedded model's default, the shapes
            ``calibration`` split with its question templates as text prompts.
        limit: a deterministic sample of about this many documents (see
            :func:`luq.tasks.load_docs`); None: all of the split.
        data: where the task's documents are (None: the task's own source).
        split: the split to draw from; default: the task's split ("calibration" for
            ``shapes``, "train" for a bare data source). TextVQA ``train`` is the natural
            multimodal source that stays clear of the evaluated split.
        seed: the sampling seed.

    Returns:
        Rows whose questions are the task's prompts, so calibration sees what evaluation
        sends; the same prompts, de-duplicated, as the text-only part.
    """
    if source is None or (source == "shapes" and data is None and split in (None, "calibration")):
        from luq.embedded import text_prompts

        rows = load_docs("shapes", limit=limit, split="calibration", seed=seed)
        key = _key("shapes", "luq", "calibration", limit, seed)
        return CalibrationSource(rows.remove_columns("doc_id"), text_prompts(), key)
    if isinstance(source, Task) or source in TASKS:
        task = get_task(source)
    else:  # a bare data source: read like the shapes split (image + question)
        task = replace(TASKS["shapes"], name="custom", builtin=None, hub_ids=(source,),
                       split="train", columns=("question",))
        data = source
    split = split or task.split
    docs = load_docs(task, data, limit, split=split, seed=seed)
    prompts = [task.prompt(row) for row in text_rows(docs)]
    if "image" in docs.column_names:
        rows = docs.select_columns(["image"]).add_column("question", prompts)
    else:  # images joined on access (GQA)
        rows = Dataset.from_dict({"image": [row["image"] for row in docs],
                                  "question": prompts}, features=ROW_FEATURES)
    where = str(Path(data).expanduser().resolve()) if data and Path(data).expanduser().exists() \
        else data or task.source
    return CalibrationSource(rows, list(dict.fromkeys(prompts)),
                             _key(task.name, where, split, limit, seed))


def _key(name: str, where: str, split: str, limit: int | None, seed: int) -> str:
    return f"{name}:{where}:{split}:{limit if limit is not None else 'all'}:seed{seed}"
