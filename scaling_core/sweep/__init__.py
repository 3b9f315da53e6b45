"""The sweep engine: nested shards, one trainer, model search, a resumable store."""

from scaling_core.sweep.task import Task, TaskSpec

__all__ = ["Task", "TaskSpec"]
