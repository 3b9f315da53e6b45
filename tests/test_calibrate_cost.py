"""The calibration counts each benchmark row with the model as it was timed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "calibrate_cost.py"


def _calibrate():
    spec = importlib.util.spec_from_file_location("calibrate_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_rows_timed_with_input_feeding_are_counted_with_the_step_by_step_decoder():
    calibrate = _calibrate()
    recipe = next(r for r in calibrate._bench().recipes("quick") if r.family == "attention")
    assert calibrate.MEASURED_WITH[("h200", "attention")] == {"input_feed": True}
    today, _ = calibrate.count(recipe, loop=False)
    as_timed, _ = calibrate.count(recipe, loop=False, options={"input_feed": True})
    # one decoder call and one attention for the transcript, against one per character
    assert as_timed > 2 * today
