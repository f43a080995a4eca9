"""Shared fixtures: the project's CIFAR-10 copy (when present), a seeded generator, and one-thread torch."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

SHARED_CIFAR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10"


@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    """The CIFAR-10 copy beside the project (``../shared/data/cifar10``) or ``$FREQLENS_TEST_CIFAR``."""
    path = Path(os.environ.get("FREQLENS_TEST_CIFAR", SHARED_CIFAR))
    if not (path / "data_batch_1").is_file():
        pytest.skip(f"no CIFAR-10 copy at {path}")
    return path


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run a test on one torch thread: on tiny tensors threads only add overhead (and stall on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def runs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own runs root (``$FREQLENS_RUNS``): CLI commands record their runs there, not in out/."""
    root = tmp_path / "runs-root"
    monkeypatch.setenv("FREQLENS_RUNS", str(root))
    return root
