"""A new analysis is one file: a module dropped on the analyses package's path is, with no other edit, listed by
``freqlens audit --help``, run by ``freqlens audit --analyses NAME`` into the report, and held to the generated
contract tests."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import freqlens.analyses
import test_analysis_contract as contract_tests
from freqlens import contract
from freqlens.analyses import discover, get_analysis, list_analyses
from freqlens.audit import ModelSpec, audit, default_params
from test_audit import make_folder

NAME = "mean_brightness"
MODULE = textwrap.dedent(
    f'''
    """Test-only analysis: accuracy and the mean pixel value of the sampled images."""

    import torch

    from freqlens.contract import (
        AnalysisResult, Estimate, batch_slices, evaluating, placement, register_analysis, subsample, subsample_note
    )
    from freqlens.plotting import plt


    def defaults(h, w, classes, device):
        return {{"batch_size": 8 if h * w > 1024 else 4}}


    def figure(values):
        fig, ax = plt.subplots()
        ax.hist(values.numpy())
        return fig


    @register_analysis(
        "{NAME}", "accuracy and mean pixel value", test_params={{"n": 6}}, images_at_224=2, max_images=4,
        defaults=defaults,
    )
    def mean_brightness(model, images, labels, *, n=None, seed=0, batch_size=4, progress=False):
        x, y = subsample(images, labels, n, seed)
        device, dtype = placement(model, x)
        correct = 0
        with evaluating(model), torch.inference_mode():
            for part in batch_slices(x.shape[0], batch_size, desc="{NAME}", progress=progress):
                correct += int((model(x[part].to(device, dtype)).argmax(1).cpu() == y[part]).sum())
        means = x.mean(dim=(1, 2, 3))
        return AnalysisResult(
            "{NAME}",
            metrics={{"accuracy": Estimate.proportion(correct, x.shape[0]), "mean": float(means.mean())}},
            arrays={{"means": means}},
            figures={{"means": lambda: figure(means)}},
            conventions={{"image_subsample": subsample_note(x.shape[0], seed)}},
            params={{"n": x.shape[0], "seed": seed, "batch_size": batch_size}},
        )
    '''
)


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    """The module in a folder added to ``freqlens.analyses.__path__``, discovered; removed again afterwards."""
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / f"{NAME}.py").write_text(MODULE)
    freqlens.analyses.__path__.append(str(folder))
    discover()
    yield folder
    freqlens.analyses.__path__.remove(str(folder))
    contract._ANALYSES.pop(NAME, None)
    sys.modules.pop(f"freqlens.analyses.{NAME}", None)


def test_a_module_on_the_path_is_registered_with_its_declared_defaults(package: Path) -> None:
    spec = get_analysis(NAME)
    assert default_params(NAME, 32, 32, 500, 10) == {"n": 4, "batch_size": 4}
    assert default_params(NAME, 224, 224, 500, 1000) == {"n": 2, "batch_size": 8}
    assert spec.audit_order is None  # not in the default audit unless it says so


def test_it_meets_the_generated_contract_tests(package: Path, tmp_path: Path) -> None:
    contract_tests.test_model_with_mixed_modes_is_left_exactly_as_found(NAME)
    contract_tests.test_result_summary_is_json_and_save_writes_arrays_and_figures(NAME, tmp_path / "save")
    contract_tests.test_float64_model_reads_float32_images(NAME)
    contract_tests.test_inputs_are_not_modified_and_the_same_seed_gives_the_same_numbers(NAME)


def test_the_audit_runs_it_into_the_report(package: Path, tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "imgs", 32, per_class=2)
    out = tmp_path / "out"
    result = audit([ModelSpec("small_cnn", "net")], str(folder), out, analyses=[NAME], n=6, progress=False)
    summary = json.loads((out / "audit" / "summary.json").read_text())
    assert summary["tables"][0]["title"].split(":")[0] == NAME
    assert any(f["path"] == f"{NAME}/means/net.png" for f in summary["figures"])
    assert NAME in result.html.read_text()


def test_audit_help_lists_it(package: Path) -> None:
    code = (
        "import sys, freqlens.analyses as a; a.__path__.append(sys.argv[1]); a.discover(); "
        "from freqlens.cli import main; sys.exit(main(['audit', '--help']))"
    )
    shown = subprocess.run([sys.executable, "-c", code, str(package)], capture_output=True, text=True, check=True)
    assert NAME in shown.stdout.replace("\n", "").replace(" ", "").replace("│", "")


@pytest.mark.parametrize("name", list_analyses())
@pytest.mark.parametrize(("size", "classes"), [(32, 10), (224, 1000)])
def test_every_declared_default_is_a_parameter_of_the_analysis(name: str, size: int, classes: int) -> None:
    spec = get_analysis(name)
    params = inspect.signature(spec.run).parameters
    declared = default_params(name, size, size, 500, classes)
    assert set(declared) <= set(params), f"{name} declares defaults for {set(declared) - set(params)}"
    assert ("n" in declared) == (spec.images_at_224 is not None)
