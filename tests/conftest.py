import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import segmint

sys.path.insert(0, str(Path(__file__).parent))
from data import DEMO_SCHEMA, write_cli_data

from segmint.runtime import demo
from segmint.runtime.engines.kernel_cache import cache_folder

# Hypothesis: CI runs more examples than a quick local run, always without deadlines (shared, noisy machines).
settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")



@pytest.fixture(scope="session")
def schema() -> segmint.Schema:
    return segmint.Schema.from_toml(DEMO_SCHEMA)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """The command line tests' Parquet folder (tests/data.py ``write_cli_data``)."""
    return write_cli_data(tmp_path_factory.mktemp("cli-data"))


@pytest.fixture
def small_demo(tmp_path, monkeypatch):
    """The demo data set cached under tmp_path, and ``eval`` without --data using a 2,000-contact one."""
    kernels = cache_folder()  # compiled kernels stay where they are, shared between runs
    monkeypatch.setenv("SEGMINT_KERNEL_CACHE", str(kernels) if kernels else "off")
    monkeypatch.setenv("SEGMINT_CACHE", str(tmp_path / "cache"))
    full = demo.demo_dir
    monkeypatch.setattr(demo, "demo_dir", lambda contacts=2_000, **kw: full(contacts=contacts, **kw))
    return tmp_path / "cache"
