"""The sweep engine: nested shards, one trainer, model search, a resumable store."""

from scaling_core.sweep.task import Task, TaskSpec
from scaling_core.sweep.trainer import TrainerSettings, TrialResult, evaluate, train_trial
from scaling_core.sweep.trial import Trial
from scaling_core.sweep.stack_trainer import train_stack
from scaling_core.sweep.search import SearchSpec, plan_shard
from scaling_core.sweep.store import Store
from scaling_core.sweep.executors import LocalExecutor, RayExecutor
from scaling_core.sweep.records import staleness, sweep_trials
from scaling_core.sweep.run import best_per_shard, run_sweep
from scaling_core.sweep.spec import SweepSpec

__all__ = [
    "Task", "TaskSpec", "Trial", "TrainerSettings", "TrialResult", "evaluate", "train_trial", "train_stack",
    "SearchSpec", "plan_shard", "Store", "LocalExecutor", "RayExecutor", "SweepSpec", "best_per_shard",
    "run_sweep", "staleness", "sweep_trials",
]
