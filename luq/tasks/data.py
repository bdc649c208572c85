"""A task's documents from wherever ``datasets`` reaches, offline first.

Sources: the hub (either org name), a ``save_to_disk`` folder (DatasetDict or Dataset), a
hub snapshot folder (``hf download --local-dir``), parquet files (a file, a glob or a
folder), or an image folder with ``metadata.jsonl``/``metadata.csv``. A folder holding one
sub-folder per config (``DIR/<config>/``) is read config by config, which is how GQA's
questions and images travel together. A source holding a single split is read whatever the
split's name (a ``train`` parquet or image folder, a one-split export). ``HF_DATASETS_OFFLINE``
and ``HF_HUB_OFFLINE`` are honoured by ``datasets`` itself.
"""

from __future__ import annotations

import glob
import os
import random
from collections import Counter
from pathlib import Path

from datasets import (
    Dataset,
    get_dataset_config_names,
    load_dataset,
    load_dataset_builder,
    load_from_disk,
)

from luq.hub import HUB_ID, hub_online
from luq.tasks.registry import get_task
from luq.tasks.roots import allowed_roots, is_allowed, looks_like_path, outside_message
from luq.tasks.task import Task

DOC_ID = "doc_id"
"""The column every loaded document gets: its 0-based position in the full split."""


class DataUnavailable(ValueError):
    """A task's documents cannot be had here; the message says in one line what to get, how."""


def load_docs(task: Task | str, data: str | None = None, limit: int | None = None, *,
              split: str | None = None, seed: int = 0) -> Dataset:
    """The documents of ``task``, each with a ``doc_id`` column (its position in the split).

    Args:
        task: a task or its name.
        data: where to read them (hub id, folder, parquet file or glob); None: the task's
            own source (its hub ids, or the built-in split).
        limit: keep a deterministic sample of about this many documents: whole groups
            (MME's image pairs, MMBench's rotations) are drawn in a seeded order until at
            least ``limit`` documents are in; the sample keeps the split's order, and a
            larger limit keeps every document a smaller one drew.
        split: evaluate another split than the task's (e.g. TextVQA ``train`` for
            calibration).
        seed: the sampling seed.

    Raises:
        DataUnavailable: the source cannot be read here (offline and not cached, no such
            path, unreadable folder).
        ValueError: the documents lack columns the task needs; ``limit`` < 1.
    """
    task = get_task(task)
    split = split or task.split
    if data is None and task.builtin is not None:
        docs = task.builtin(split)
    elif data is None:
        docs = _from_hub(task, task.hub_ids, task.config, split)
    else:
        docs = open_source(task, data, task.config, split)
    _check_columns(task, docs, data)
    if DOC_ID not in docs.column_names:  # a saved sample keeps its original ids
        docs = docs.add_column(DOC_ID, list(range(len(docs))))
    if limit is not None:
        docs = docs.select(sample_indices(task, docs, limit, seed))
    if task.images is not None and "image" not in docs.column_names:
        docs = _join_images(task, docs, data)
    return docs


def sample_indices(task: Task, docs: Dataset, limit: int, seed: int = 0) -> list[int]:
    """Sorted row indices of the ``limit`` sample (see :func:`load_docs`)."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if limit >= len(docs):
        return list(range(len(docs)))
    if task.group_column is None:
        keys: list = list(range(len(docs)))
    else:
        keys = [task.group_key(v) for v in docs[task.group_column]]
    groups = list(dict.fromkeys(keys))
    random.Random(seed).shuffle(groups)
    size = Counter(keys)
    chosen, count = set(), 0
    for key in groups:
        if count >= limit:
            break
        chosen.add(key)
        count += size[key]
    return [i for i, key in enumerate(keys) if key in chosen]


def open_source(task: Task, data: str, config: str | None, split: str,
                need_config: bool = False) -> Dataset:
    """One split of ``data`` (a path, a glob or a hub id), ``config`` where it has configs.

    Args:
        need_config: fail unless ``config`` itself is found (GQA's image config), instead of
            reading a config-less source as is.
    """
    data = data.strip()
    if "\x00" in data or len(data) > 1024:
        raise DataUnavailable(outside_message(task.name))
    if any(ch in data for ch in "*?["):
        return _open_glob(task, data)
    path = Path(data).expanduser()
    if HUB_ID.match(data) and not looks_like_path(data):
        # org/name: a local folder only inside the roots; anything else is a hub id, so
        # whether such a path exists elsewhere on the server never changes the reply
        if not (is_allowed(path) and path.exists()):
            return _from_hub(task, (data,), config, split)
    elif not is_allowed(path):
        raise DataUnavailable(outside_message(task.name))
    if not path.exists():
        raise DataUnavailable(f"task {task.name}: no such file or folder: {data!r}")
    try:
        return _open_path(path, config, split, need_config)
    except DataUnavailable:
        raise
    except (OSError, ValueError) as err:
        raise DataUnavailable(f"task {task.name}: cannot read {data!r}: {_one_line(err)}") \
            from None


def _open_glob(task: Task, pattern: str) -> Dataset:
    """Parquet files matching ``pattern``, each inside the allowed roots."""
    base = Path(pattern).expanduser()
    while any(ch in str(base) for ch in "*?[") and base != base.parent:
        base = base.parent
    allowed = allowed_roots()
    if not is_allowed(base, allowed):
        raise DataUnavailable(outside_message(task.name))
    files = sorted(f for f in glob.glob(os.path.expanduser(pattern), recursive=True)
                   if is_allowed(f, allowed))
    if not files:
        raise DataUnavailable(f"task {task.name}: no file matches {pattern!r}")
    return load_dataset("parquet", data_files=files, split="train")


def _open_path(path: Path, config: str | None, split: str, need_config: bool) -> Dataset:
    if config and (path / config).is_dir():
        return _open_path(path / config, None, split, False)
    if path.is_file():
        if need_config:
            raise DataUnavailable(f"{path} is one file; config {config!r} needs a folder")
        return load_dataset("parquet", data_files=str(path), split="train")
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        if need_config:
            raise DataUnavailable(f"no {config}/ folder beside the dataset in {path}")
        return _pick_split(load_from_disk(str(path)), split, path)
    names = get_dataset_config_names(str(path))
    name = config if config in names else None
    if need_config and name is None:
        raise DataUnavailable(f"config {config!r} is not in {path} (it has {', '.join(names)})")
    builder = load_dataset_builder(str(path), name)
    splits = list(builder.config.data_files or {})
    if split not in splits and len(splits) != 1:
        raise DataUnavailable(f"{path} has no split {split!r} (it has {', '.join(splits)})")
    return load_dataset(str(path), name, split=split if split in splits else splits[0])


def _pick_split(obj, split: str, where) -> Dataset:
    if isinstance(obj, Dataset):
        return obj
    if split in obj:
        return obj[split]
    if len(obj) == 1:
        return next(iter(obj.values()))
    raise DataUnavailable(f"{where} has no split {split!r} (it has {', '.join(obj)})")


def _from_hub(task: Task, hub_ids: tuple[str, ...], config: str | None, split: str) -> Dataset:
    reasons = []
    hub_online()  # no network: offline mode at once (the cache still answers), no retries
    for hub_id in hub_ids:
        try:
            return load_dataset(hub_id, config, split=split)
        except OSError as err:  # offline, unreachable, not found, gated
            reasons.append(_one_line(err))
    first = hub_ids[0]
    other = f" ({', '.join(hub_ids[1:])} works too)" if len(hub_ids) > 1 else ""
    raise DataUnavailable(
        f"task {task.name}: dataset {first} [{config or 'default'}/{split}] is not cached here "
        f"and cannot be downloaded ({reasons[-1]}); on a machine with network run "
        f"`hf download --repo-type dataset {first} --local-dir DIR`{other} (older "
        f"huggingface_hub: `huggingface-cli download`), then pass --data DIR, or point --data "
        f"at a save_to_disk copy")


def _check_columns(task: Task, docs: Dataset, data: str | None) -> None:
    needed = set(task.columns) | ({"image"} if task.images is None else set())
    missing = sorted(needed - set(docs.column_names))
    if missing:
        where = data or task.source
        raise ValueError(f"{where} does not hold {task.name} documents: no column "
                         f"{', '.join(missing)} (it has {', '.join(docs.column_names)})")


def _join_images(task: Task, docs: Dataset, data: str | None) -> Dataset:
    join = task.images
    if data is None:
        images = _from_hub(task, task.hub_ids, join.config, join.split)
    else:
        images = open_source(task, data, join.config, join.split, need_config=True)
    row_of = {key: i for i, key in enumerate(images[join.id_column])}
    absent = sorted(set(docs[join.key]) - set(row_of))
    if absent:
        raise DataUnavailable(f"task {task.name}: {len(absent)} images are not in the "
                              f"{join.config} data (first: {absent[0]!r})")

    def with_images(batch: dict) -> dict:
        batch["image"] = [images[row_of[key]]["image"] for key in batch[join.key]]
        return batch

    # Decoded per access: a joined column would copy each image once per question.
    return docs.with_transform(with_images)


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__
