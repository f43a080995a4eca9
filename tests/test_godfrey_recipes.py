"""Godfrey recipes: cells, and the measurement a cell runs (untrained models on synthetic data, no training)."""

from __future__ import annotations

import json

import pytest
import torch

from freqlens.experiments import Cell, Context, get_recipe
from freqlens.experiments.godfrey import HIGHPASS, GodfreyHighpass, cell_config
from freqlens.runner import execute_cell

DATA = "synthetic:powerlaw?n=48&classes=10&size=32&seed=1"


def test_quick_cells_share_trainings_across_recipes():
    recipes = [get_recipe(n) for n in ("godfrey-highpass", "godfrey-weight-decay", "godfrey-depth")]
    cells = [c for r in recipes for c in r.cells("quick")]
    trainings = {json.dumps(c.config["train"], sort_keys=True) for c in cells if c.config["train"]}
    # highpass (3 natural + 3 high-pass), decay (3 x 3, the 1e-5 ones shared), depth (2 x 3, depth 4 shared)
    assert len(trainings) == 6 + 6 + 4
    hp = [c for c in cells if c.config["view"] == HIGHPASS and c.config["train"]]
    assert all(c.config["train"]["train_view"] == HIGHPASS for c in hp)
    assert {c.config["train"]["weight_decay"] for c in cells if c.config["train"]} >= {1e-5, 0.1}


def test_paper_profile_has_five_seeds_and_godfrey_sweeps():
    cells = get_recipe("godfrey-weight-decay").cells("paper")
    assert {c.config["seed"] for c in cells} == {0, 1, 2, 3, 4}
    decays = sorted({c.config["train"]["weight_decay"] for c in cells if c.config["family"] == "small_cnn"})
    assert len(decays) == 10 and decays[0] == pytest.approx(1e-5) and decays[-1] == pytest.approx(1e-2)
    depths = {c.config["train"]["model_kwargs"]["depth"] for c in get_recipe("godfrey-depth").cells("paper")}
    assert depths == {1, 2, 4, 8}


@pytest.mark.parametrize("view", ["original", HIGHPASS])
def test_untrained_cell_measures_sensitivity_and_data_profile(tmp_path, view):
    recipe = GodfreyHighpass()
    config = cell_config("quick", "small_cnn", None, view, data=DATA)
    config["images"], config["data_images"] = 6, 24

    ctx = Context(tmp_path, device="cpu", progress=False)
    result = execute_cell(recipe, Cell("small_cnn-untrained-s0", config), ctx)
    s = result.summary
    assert s["trained"] is False and s["view"] == view and s["images"] == 6
    assert sum(s["profile"]) == pytest.approx(1.0) and sum(s["data_profile"]) == pytest.approx(1.0)
    assert 0.0 < s["map_mass_in_square"] < 1.0
    arrays = result.arrays()
    # the cell's numbers are the library's on the same seeded draws: test images for the model, train for the data
    from freqlens.analyses import datastats
    from freqlens.analyses.sensitivity import fourier_sensitivity
    from freqlens.contract import subsample
    from freqlens.data import open_dataset
    from freqlens.experiments import godfrey
    from freqlens.views import View

    test, train = open_dataset(DATA, "test"), open_dataset(DATA, "train")
    x, _ = subsample(test.images, test.labels, 6, config["seed"])
    data_x, _ = subsample(train.images, train.labels, 24, config["seed"])
    model = godfrey._untrained(config["untrained"], test, "cpu")
    maps = fourier_sensitivity(model, View.parse(view)(x))
    assert torch.allclose(torch.as_tensor(arrays["mean"]), maps.mean, rtol=1e-6, atol=1e-12)
    amplitude = datastats.spectrum_map(View.parse(view)(data_x), "amplitude", standardize=True)
    assert torch.allclose(torch.as_tensor(arrays["data_amplitude"]), amplitude, rtol=1e-9)
    assert s["peak_radius"] == int(datastats.radial_distribution(maps.mean)[1:].argmax()) + 1
    if view == HIGHPASS:  # the high-pass data have (almost) no power in the removed square
        assert s["data_mass_below_8"] < 0.2


def test_a_dead_model_is_reported_not_normalised(tmp_path, monkeypatch):
    """A network with zero input gradient (e.g. no ReLU fires) has no sensitivity profile; summaries skip it."""
    from torch import nn

    from freqlens.experiments import godfrey

    def blind(spec, data, device):
        model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
        nn.init.zeros_(model[1].weight)
        return model

    monkeypatch.setattr(godfrey, "_untrained", blind)
    config = cell_config("quick", "small_cnn", None, data=DATA)
    config["images"], config["data_images"] = 4, 24
    ctx = Context(tmp_path, device="cpu", progress=False)
    result = execute_cell(GodfreyHighpass(), Cell("small_cnn-untrained-s0", config), ctx)
    assert result.summary["dead"] is True and "profile" not in result.summary
    group = godfrey._aggregate([result])
    assert group["dead"] and group["dead_runs"] == 1 and "profile" not in group
    claims = GodfreyHighpass._claims("small_cnn", group, group, group)
    assert all(c.agree is None and c.ours == "dead model" for c in claims)
