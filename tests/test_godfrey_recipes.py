"""Godfrey recipes: cells per profile, and the measurement a cell runs (untrained models on synthetic data)."""

from __future__ import annotations

import json

import pytest
from torch import nn

from freqlens.experiments import Cell, Context, get_recipe
from freqlens.experiments.godfrey import HIGHPASS, GodfreyHighpass, cell_config
from freqlens.experiments.godfrey.measure import decay_efolds
from freqlens.experiments.godfrey.setups import DECAYS, FAMILIES, PROFILES, train_setup
from freqlens.models import create_model
from freqlens.runner import execute_cell

DATA = "synthetic:powerlaw?n=48&classes=10&size=32&seed=1"
RECIPES = ("godfrey-highpass", "godfrey-weight-decay", "godfrey-depth")


@pytest.mark.parametrize(("profile", "distinct"), [("quick", 6 + 3 + 2), ("cpu", 6 + 6 + 4)])
def test_cells_share_trainings_across_recipes(profile, distinct):
    cells = [c for n in RECIPES for c in get_recipe(n).cells(profile)]
    trainings = {json.dumps(c.config["train"], sort_keys=True) for c in cells if c.config["train"]}
    # highpass: 3 natural + 3 high-pass; decay sweep: its base decay is shared; depth sweep: depth 4 is shared
    assert len(trainings) == distinct
    hp = [c for c in cells if c.config["view"] == HIGHPASS and c.config["train"]]
    assert all(c.config["train"]["train_view"] == HIGHPASS for c in hp)
    # every model standardises with its own training view's statistics (issue 13, defect 1)
    assert all(c.config["train"]["model_kwargs"]["normalize"] == "data" for c in cells if c.config["train"])


def test_circular_cnns_train_with_sgd_long_enough_for_weight_decay_to_act():
    """Issue 13, defect 2: the linear circular CNN must reach the regularised optimum, so SGD's decay must remove
    several e-folds of its initial weights at the base decay (and almost nothing at 1e-5)."""
    for profile in ("quick", "cpu"):
        base = train_setup(profile, "circular_linear", 2.0)
        assert base["optimizer"] == "sgd" and base["momentum"] == 0.9
        assert 4 * decay_efolds(base) >= 4  # four decayed layers
        assert decay_efolds(train_setup(profile, "circular_linear", 1e-5)) < 1e-3


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("family", FAMILIES)
def test_weight_decay_acts_on_the_function_as_in_godfrey(profile, family):
    """Issue 13, Q4: the theory's cost is the norm of the weights that make the function. With BatchNorm after every
    conv the function ignores the conv weights' scale, so decaying them does not regularise it (the small CNN's Q4
    could not be told from its control). Godfrey's CIFAR families (Myrtle, VGG, circular CNNs) have no BatchNorm."""
    spec = train_setup(profile, family, 1e-5)
    model = create_model(spec["model"], **spec["model_kwargs"])
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert spec["optimizer"] == "sgd" and spec["momentum"] == 0.9


def test_the_conventional_cnn_trains_long_enough_for_its_decay_sweep_to_act():
    """SGD's decay removes several e-folds of the initial weights at the sweep's largest decay, almost none at 1e-5."""
    for profile in ("quick", "cpu"):
        assert decay_efolds(train_setup(profile, "small_cnn", DECAYS[profile]["small_cnn"][-1])) >= 3
        assert decay_efolds(train_setup(profile, "small_cnn", 1e-5)) < 0.01


def test_paper_profile_has_godfrey_sweeps():
    cells = get_recipe("godfrey-weight-decay").cells("paper")
    decays = sorted({c.config["train"]["weight_decay"] for c in cells if c.config["family"] == "small_cnn"})
    assert len(decays) == 10 and decays[0] == pytest.approx(1e-5) and decays[-1] == pytest.approx(1e-2)
    depths = {c.config["train"]["model_kwargs"]["depth"] for c in get_recipe("godfrey-depth").cells("paper")}
    assert depths == {1, 2, 4, 8}
    assert {c.config["train"]["weight_decay"] for c in get_recipe("godfrey-depth").cells("paper")} == {1e-5}


@pytest.mark.parametrize("view", ["original", HIGHPASS])
def test_untrained_cell_measures_per_image_sensitivity_and_data_profile(tmp_path, view):
    config = cell_config("quick", "small_cnn", None, view, data=DATA)
    config["images"], config["data_images"] = 6, 24
    ctx = Context(tmp_path, device="cpu", progress=False)
    result = execute_cell(GodfreyHighpass(), Cell("small_cnn-untrained-s0", config), ctx)
    s = result.summary
    assert s["trained"] is False and s["view"] == view and s["images"] == 6 and not s["dead"]
    assert sum(s["profile"]) == pytest.approx(1.0) and sum(s["data_profile"]) == pytest.approx(1.0)
    assert s["accuracy"]["n"] == 6 and s["accuracy"]["method"] == "binomial"
    arrays = result.arrays()
    assert arrays["radial"].shape == (6, 24) and arrays["square"].shape == (6,)
    assert (arrays["square"] < arrays["total"]).all() and (arrays["square"] > 0).all()
    assert arrays["mean"].shape == (3, 32, 32) and arrays["data_amplitude"].shape == (3, 32, 32)
    # the mean of the per-image radial rows is the radial profile of the mean map
    mean_rows = arrays["radial"].mean(0)
    assert mean_rows / mean_rows.sum() == pytest.approx(s["profile"], rel=1e-9)
    if view == HIGHPASS:  # the high-pass data have (almost) no power in the removed square
        assert s["data_mass_below_8"] < 0.2


def test_a_dead_model_is_recorded_as_dead(tmp_path, monkeypatch):
    """A network with zero input gradient (e.g. no ReLU fires) has no sensitivity profile."""
    from torch import nn

    from freqlens.experiments.godfrey import measure

    def blind(spec, data, images, device):
        model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
        nn.init.zeros_(model[1].weight)
        return model

    monkeypatch.setattr(measure, "untrained_model", blind)
    config = cell_config("quick", "small_cnn", None, data=DATA)
    config["images"], config["data_images"] = 4, 24
    ctx = Context(tmp_path, device="cpu", progress=False)
    result = execute_cell(GodfreyHighpass(), Cell("small_cnn-untrained-s0", config), ctx)
    assert result.summary["dead"] is True and "profile" not in result.summary


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_godfrey_recipes_end_to_end_on_tiny_data(tmp_path, monkeypatch):
    """The three recipes through the runner on tiny synthetic data: trained and untrained cells, summaries with a
    measured estimate and a control for every judged claim, convergence recorded for every trained model."""
    from freqlens.executors import InlineExecutor
    from freqlens.experiments.godfrey import setups
    from freqlens.runner import reproduce

    tiny = "synthetic:powerlaw?n=64&classes=4&spread=2&seed=0"
    for family, training in setups._TRAINING["quick"].items():
        monkeypatch.setitem(setups._TRAINING["quick"], family, {**training, "epochs": 2, "train_subset": 48})
    monkeypatch.setitem(setups._SCALE, "quick", {**setups._SCALE["quick"], "test_subset": 16})
    monkeypatch.setitem(setups.SENSITIVITY_IMAGES, "quick", 8)
    monkeypatch.setattr(setups, "DATA_IMAGES", 32)
    real = setups.cell_config
    monkeypatch.setattr(
        "freqlens.experiments.godfrey.recipes.cell_config", lambda *a, **k: real(*a, **{**k, "data": tiny})
    )
    ctx = Context(runs_root=tmp_path / "runs", profile="quick", progress=False)
    outcomes = reproduce(list(RECIPES), ctx, InlineExecutor(), tmp_path / "out").outcomes
    assert {o.recipe: o.errors for o in outcomes} == {name: [] for name in RECIPES}
    for name in RECIPES:
        summary = json.loads((tmp_path / "out" / name / "summary.json").read_text())
        judged = [c for c in summary["comparisons"] if c["status"] != "not judged"]
        assert judged and all(c["estimate"] and c["control"] for c in judged), name
        assert all(c["diagnosis"] for c in judged if c["status"] != "agree"), name
    trained = [p for p in (tmp_path / "runs").glob("godfrey-*/*/summary.json") if '"trained": true' in p.read_text()]
    assert trained and all("decay_efolds" in p.read_text() for p in trained)
