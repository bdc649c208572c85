"""Benchmark tasks in the lmms-eval spirit: documents, prompts, scoring, aggregation.

``get_task(name)`` gives a :class:`Task`; ``load_docs`` reads its documents from the hub, a
local copy or the built-in shapes split; ``run_task`` answers them with a model and scores
the answers; ``read_predictions``/``score_predictions`` score answers made elsewhere;
``calibration_source`` turns a task's documents into calibration samples.
"""

from luq.tasks.calibration import CalibrationSource, calibration_source
from luq.tasks.data import DOC_ID, DataUnavailable, load_docs
from luq.tasks.predictions import read_predictions, score_predictions, write_predictions
from luq.tasks.registry import TASKS, get_task, task_names
from luq.tasks.run import run_task
from luq.tasks.task import ImageJoin, Task

__all__ = ["DOC_ID", "TASKS", "CalibrationSource", "DataUnavailable", "ImageJoin", "Task",
           "calibration_source", "get_task", "load_docs", "read_predictions", "run_task",
           "score_predictions", "task_names", "write_predictions"]
