"""Contract tests generated from the analysis registry: every registered analysis, on tiny inputs, must

* leave a model with mixed submodule modes exactly as it found it (modes, parameters and buffers bit-identical),
* return an :class:`AnalysisResult` whose summary is JSON and whose ``save`` writes its arrays and figures,
* run a float64 model on float32 images (placement is the contract's job),
* leave its input tensors untouched and give the same numbers twice under the same seed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from freqlens.analyses import get_analysis, list_analyses
from freqlens.contract import AnalysisResult

NAMES = list_analyses()
SRC = Path(__file__).resolve().parents[1] / "src" / "freqlens"


def tiny_model() -> nn.Module:
    """A conv net with two BatchNorms and a Dropout, in training mode with the second BatchNorm frozen."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.BatchNorm1d(16),
        nn.Linear(16, 3),
    )
    with torch.no_grad():  # running statistics away from their defaults, so a change to them would show
        for bn in (model[1], model[6]):
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
    model.train()
    model[6].eval()  # deliberately frozen
    return model


def tiny_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(10, 3, 8, 8, generator=g), torch.arange(10) % 3


def run(name: str, model: nn.Module | None, images: torch.Tensor, labels: torch.Tensor) -> AnalysisResult:
    spec = get_analysis(name)
    return spec.run(model if spec.needs_model else None, images, labels, **spec.test_params)  # type: ignore[arg-type]


def snapshot(model: nn.Module) -> tuple[list[bool], dict[str, torch.Tensor]]:
    return [m.training for m in model.modules()], {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_the_registry_holds_every_analysis():
    assert {"hfc", "sensitivity", "heatmap", "datastats", "kernels", "defence", "perturbations"} <= set(NAMES)
    assert not get_analysis("datastats").needs_model


@pytest.mark.parametrize("name", NAMES)
def test_model_with_mixed_modes_is_left_exactly_as_found(name):
    model = tiny_model()
    modes, state = snapshot(model)
    images, labels = tiny_inputs()
    run(name, model, images, labels)
    after_modes, after_state = snapshot(model)
    assert after_modes == modes  # per submodule: the frozen BatchNorm stays frozen, the rest stays training
    assert after_state.keys() == state.keys()
    for key, value in state.items():  # BatchNorm running statistics and counters included
        assert torch.equal(after_state[key], value), key
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_result_summary_is_json_and_save_writes_arrays_and_figures(name, tmp_path):
    images, labels = tiny_inputs()
    result = run(name, tiny_model(), images, labels)
    assert isinstance(result, AnalysisResult) and result.analysis == name
    assert result.metrics and result.conventions
    summary = result.save(tmp_path)
    assert json.loads(json.dumps(summary)) == summary  # plain JSON, nothing lost on the way
    assert set(summary["figures"]) == set(result.figures) and result.figures
    for file in summary["figures"].values():
        assert (tmp_path / file).stat().st_size > 0
    if result.arrays:
        with np.load(tmp_path / "arrays.npz") as saved:
            assert sorted(saved.files) == sorted(result.arrays)
            for key, value in result.numpy_arrays().items():
                assert np.array_equal(saved[key], value, equal_nan=True), key


@pytest.mark.parametrize("name", NAMES)
def test_float64_model_reads_float32_images(name):
    images, labels = tiny_inputs()
    model = tiny_model().double()
    result = run(name, model, images, labels)
    assert isinstance(result, AnalysisResult)
    assert all(p.dtype == torch.float64 for p in model.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_inputs_are_not_modified_and_the_same_seed_gives_the_same_numbers(name):
    images, labels = tiny_inputs()
    kept_images, kept_labels = images.clone(), labels.clone()
    first = run(name, tiny_model(), images, labels).summary()
    assert torch.equal(images, kept_images) and torch.equal(labels, kept_labels)
    second = run(name, tiny_model(), images, labels).summary()
    assert same(first["metrics"], second["metrics"])


def same(a: object, b: object) -> bool:
    """Equal up to the last bits of floats (LAPACK least squares may round differently between calls)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-12, abs=1e-15)
    return a == b


def test_only_the_contract_switches_modes():
    """Analyses and attacks enter eval mode through ``contract.evaluating`` only: no direct ``.train(``/``.eval(``
    or ``.training =`` that could forget a submodule's own mode."""
    pattern = re.compile(r"\.(train|eval)\(|\.training\s*=[^=]")
    files = [*sorted((SRC / "analyses").glob("*.py")), SRC / "attacks.py"]
    offenders = [
        f"{path.name}:{i}: {line.strip()}"
        for path in files
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line) and not line.lstrip().startswith((">>>", "...", "#"))
    ]
    assert offenders == []
