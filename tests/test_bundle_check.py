"""The GPU bundle's self-check: eager, CUDA-graph and stacked training agree (here on the CPU)."""

from __future__ import annotations

import pytest

from scaling_core.bundle import self_check


@pytest.mark.slow
def test_the_self_check_trains_every_path_and_switches_nothing_off():
    lines = self_check("cpu", pool=(2048, 500))
    checks = [line for line in lines if line.startswith("# check ")]
    assert [line.split(":")[0] for line in checks] == [
        "# check eager", "# check graphs", "# check stack", "# check word LM eager", "# check word LM graphs"]
    assert not [line for line in lines if line.startswith("export")], lines
    assert all("DISAGREES" not in line for line in checks)
