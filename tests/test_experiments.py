"""Every recipe end to end on tiny synthetic data (patched quick profile): cells run, models are shared, summaries
and the report are written. The real reproduction on CIFAR-10 is the slow test at the bottom."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from freqlens import runs, verdicts
from freqlens.errors import FreqlensError
from freqlens.executors import InlineExecutor
from freqlens.experiments import Context, common, get_recipe, hfc_e3
from freqlens.experiments.base import Comparison
from freqlens.report import build_report
from freqlens.runner import _plan, reproduce
from freqlens.runs import Index
from freqlens.trained import train_run_dir

RECIPES = ["hfc-e1", "hfc-e3", "hfc-e4", "hfc-e6", "hfc-e7", "hfc-e8e9", "heatmap"]
TINY_DATA = "synthetic:powerlaw?n=96&classes=10&spread=2&seed=0"


@pytest.fixture
def tiny_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink the quick profile to seconds: tiny synthetic data, one epoch, a 4-wide small CNN."""
    tiny = common.vanilla("quick", data=TINY_DATA, train_subset=None, test_subset=None, epochs=1, batch_size=48)
    tiny["model_kwargs"]["width"] = 4
    monkeypatch.setattr(common, "_QUICK", tiny)
    monkeypatch.setitem(hfc_e3._SETUP, "quick", {"train_subset": 48, "epochs": 1, "batch_size": 24})
    monkeypatch.setitem(common.FILTERED_SETUP, "quick", {"epochs": 1})
    for table, n in ((common.EVAL_IMAGES, 48), (common.ATTACK_IMAGES, 8), (common.HEATMAP_IMAGES, 4)):
        monkeypatch.setitem(table, "quick", n)


def _run_and_check(recipes: list[str], trainings: int, references: int, tmp_path: Path) -> Path:
    ctx = Context(runs_root=tmp_path / "runs", profile="quick", progress=False)
    out = tmp_path / "out"
    outcomes = reproduce(recipes, ctx, InlineExecutor(), out).outcomes
    assert {o.recipe: o.errors for o in outcomes} == {name: [] for name in recipes}
    used = [cfg for r, c in _plan([get_recipe(name) for name in recipes], ctx) for cfg in r.trainings(c)]
    distinct = {train_run_dir(ctx.runs_root, cfg) for cfg in used}
    assert (len(used), len(distinct)) == (references, trainings)
    assert sorted(p.parent for p in ctx.runs_root.glob("train/*/summary.json")) == sorted(distinct)
    meta = json.loads((out / "reproduce.json").read_text())
    assert meta["trainings"] == trainings and meta["trained_now"] == trainings
    for name in recipes:
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["comparisons"], name
        for c in summary["comparisons"]:  # each one a valid verdict whose flag follows from its status
            assert Comparison(**c).status == c["status"] in verdicts.STATUSES, (name, c["claim"])
            assert c["agree"] is verdicts.agree_flag(c["status"]), (name, c["claim"])
        assert all((out / name / f["path"]).is_file() for f in summary["figures"]), name
    html, _ = build_report(out)
    page = html.read_text()
    assert all(f"id='{name}'" in page for name in recipes)
    assert len(Index(ctx.runs_root).query(kind="train", status="done")) == trainings
    # A second invocation trains and runs nothing.
    again = reproduce(recipes, ctx, InlineExecutor(), out)
    assert all(not o.errors for o in again.outcomes)
    meta = json.loads((out / "reproduce.json").read_text())
    assert meta["trained_now"] == 0 and meta["cells_run_now"] == 0
    return ctx.runs_root


def test_recipes_run_share_models_and_report(tiny_quick: None, tmp_path: Path) -> None:
    # Every HFC recipe runs two seeds under quick. E1, E8/E9 and the heat map share one natural model per seed;
    # E8/E9 and the heat map one adversarially trained model per seed; E1's placebo is an untrained model (no
    # training); E3 trains its two models per seed (8 trainings for 18 references).
    root = _run_and_check(["hfc-e1", "hfc-e3", "hfc-e8e9", "heatmap"], 8, 18, tmp_path)
    natural = train_run_dir(root, common.heuristic("quick", "vanilla"))
    assert natural == train_run_dir(root, get_recipe("hfc-e1").cells("quick")[0].config["train"])
    # The E3 runs recorded their training-set LFC and HFC curves (natural: through the extra callback).
    for cell in get_recipe("hfc-e3").cells("quick"):
        arrays = runs.load_arrays(runs.run_dir(root, "hfc-e3", cell.name, cell.config))
        assert arrays["L4"].shape == arrays["H4"].shape == (cell.config["train"]["epochs"],), cell.name
        assert 0 <= float(arrays["L4"][0]) <= 1 and 0 <= float(arrays["H16"][-1]) <= 1


@pytest.mark.slow
def test_every_recipe_runs_on_tiny_data(tiny_quick: None, tmp_path: Path) -> None:
    # Two seeds of everything: E6 adds 3 heuristics (its vanilla and adversarial models are shared), Table 1 4 models
    # (quick: r = 4, 8) and E7 2 BatchNorm ones (its vanilla LFC models are Table 1's), and E3 its natural and
    # shuffled pair.
    _run_and_check(RECIPES, 26, 44, tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the budget is 25 minutes; the suite's default limit is 10
def test_reproduce_quick_on_cifar10(cifar_dir: Path, tmp_path: Path) -> None:
    """The real thing: ``freqlens reproduce quick`` on CIFAR-10 within the 25-minute budget (2 CPU cores)."""
    from freqlens.cli import main

    out = Path(os.environ.get("FREQLENS_REPRODUCE_OUT", tmp_path / "out"))
    started = time.perf_counter()
    code = main(
        [
            "reproduce",
            "quick",
            "--data-dir",
            str(cifar_dir),
            "--device",
            "cpu",
            "--runs",
            str(out / "runs"),
            "--out",
            str(out),
        ]
    )
    print(f"freqlens reproduce quick: {(time.perf_counter() - started) / 60:.1f} min")
    assert code == 0
    assert (out / "report.html").is_file()


def test_first_seed_runs_later_replicates_as_their_own_run_folders(tmp_path: Path) -> None:
    """``--first-seed 1`` is another draw of every seed, and the same run folders as replicate 1 of ``--seeds 2``."""
    recipe = get_recipe("godfrey-depth")
    two = _plan([recipe], Context(runs_root=tmp_path, seeds=2))
    second = _plan([recipe], Context(runs_root=tmp_path, first_seed=1))
    assert [c.replicate for _, c in second] == [1] * len(recipe.cells("quick"))
    assert {c.key(recipe.name) for _, c in second} == {c.key(recipe.name) for _, c in two if c.replicate == 1}


def test_a_second_quick_seed_shares_no_model_with_the_first(tmp_path: Path) -> None:
    """Issue 23: the HFC recipes run two seeds per quick run, so ``--first-seed 1`` takes replicates 2 and 3."""
    recipes = [get_recipe(name) for name in RECIPES]

    def models(first_seed: int) -> set[Path]:
        plan = _plan(recipes, Context(runs_root=tmp_path, first_seed=first_seed))
        return {train_run_dir(tmp_path, cfg) for r, c in plan for cfg in r.trainings(c)}

    assert models(0) and models(0).isdisjoint(models(1))
    assert all(c.replicate in (2, 3) for _, c in _plan(recipes, Context(runs_root=tmp_path, first_seed=1)))
    with pytest.raises(FreqlensError, match="--first-seed"):
        Context(runs_root=tmp_path, first_seed=-1)


def test_a_recipe_whose_outcome_depends_on_the_seed_runs_its_minimum_of_replicates(tmp_path: Path) -> None:
    """hfc-e3 trains two seeds under quick whatever --seeds says (more when asked), one seed per replicate."""
    e3, depth = get_recipe("hfc-e3"), get_recipe("godfrey-depth")
    quick = _plan([e3, depth], Context(runs_root=tmp_path))
    assert sorted(c.replicate for r, c in quick if r is e3) == [0, 0, 1, 1]
    assert {c.replicate for r, c in quick if r is depth} == {0}
    shifted = _plan([e3], Context(runs_root=tmp_path, first_seed=1))
    assert sorted(c.replicate for _, c in shifted) == [2, 2, 3, 3]
    assert len(_plan([e3], Context(runs_root=tmp_path, seeds=3))) == 6
    assert len(_plan([e3], Context(runs_root=tmp_path, profile="cpu"))) == 2
