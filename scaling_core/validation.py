"""Parameter checks shared by chapters, tasks, models and data loaders.

Every check raises :class:`ParameterError`, a ``ValueError`` whose one line names the
parameter, the bad value and the allowed values, e.g.
``parameter 'device' got 'tpu'; allowed: 'cpu', 'cuda', 'cuda:N', 'mps'``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DATA_DIR_ENV = "SCALING_CORE_DATA"
"""Environment variable naming a folder of real datasets (CI sets it to ``../shared/data``)."""


class ParameterError(ValueError):
    """A chapter or library parameter has a value outside its allowed set."""

    def __init__(self, name: str, value: Any, allowed: str):
        super().__init__(f"parameter {name!r} got {value!r}; allowed: {allowed}")
        self.name, self.value, self.allowed = name, value, allowed


def check_choice(name: str, value: Any, choices) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise :class:`ParameterError`."""
    choices = tuple(choices)
    if value not in choices:
        raise ParameterError(name, value, ", ".join(repr(c) for c in choices))
    return value


def check_device(device: str) -> str:
    """Validate a torch device string: ``cpu``, ``cuda`` or ``cuda:N``, ``mps``."""
    ok = device in ("cpu", "cuda", "mps") or (
        isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit()
    )
    if not ok:
        raise ParameterError("device", device, "'cpu', 'cuda', 'cuda:N', 'mps'")
    return device


def machine_devices() -> list[str]:
    """The torch devices this machine has: ``cpu``, then ``cuda:N`` for each GPU and ``mps`` if present."""
    import torch

    devices = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def check_device_present(device: str) -> str:
    """:func:`check_device`, and that this machine has the device (a one-line error naming what it has)."""
    check_device(device)
    present = machine_devices()
    wanted = "cuda:0" if device == "cuda" else device
    if wanted not in present:
        raise ParameterError("device", device, f"a device this machine has: {', '.join(present)}")
    return device


def check_seed(seed: Any) -> int:
    """Validate a seed: a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError("seed", seed, "a non-negative integer")
    return seed


def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder of real datasets: the argument, else ``$SCALING_CORE_DATA``, else ``None``."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV)
    return Path(chosen).expanduser() if chosen else None
