"""Numbers in a manifest past what makes sense are typos reported by field, not values that overflow later:
a review's `timeout_s = 1e300` loaded, then broke the scorer's clock (OverflowError blamed on the scorer),
`memory_mb = 9223372036854775807` its resource limit, and `start = 1e308, reference = -1e308` scored
every candidate 0.000."""

from __future__ import annotations

import pytest
from test_env_manifest import edit, load_bad, only


@pytest.mark.parametrize("old, new, field", [
    ("timeout_s = 120", "timeout_s = 1e300", "scoring.timeout_s"),
    ("memory_mb = 2048", "memory_mb = 9223372036854775807", "scoring.memory_mb"),
    ("hours = 8", "hours = 1e9", "budget.hours"),
    ("cpus = 1", "cpus = 100000", "hardware.cpus"),
    ("memory_gb = 2", "memory_gb = 1e12", "hardware.memory_gb"),
    ("timeout_s = 30", "timeout_s = 1e30", "variants.tiny.timeout_s"),
    ("start = -0.6", "start = 1e308", "calibration.start"),
    ("reference = -3.0", "reference = -1e308", "calibration.reference"),
])
def test_a_number_past_its_bound_is_named(tmp_path, old, new, field):
    problem = only(load_bad(tmp_path, edit(old, new)), field)
    assert "expected" in problem.message and ("at most" in problem.message or "within" in problem.message), problem
