import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import segmint

sys.path.insert(0, str(Path(__file__).parent))
from data import DEMO_SCHEMA

# Hypothesis: CI runs more examples than a quick local run, always without deadlines (shared, noisy machines).
settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")



@pytest.fixture(scope="session")
def schema() -> segmint.Schema:
    return segmint.Schema.from_toml(DEMO_SCHEMA)
