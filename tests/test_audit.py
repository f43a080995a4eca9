"""freqlens audit: planned cells, models side by side in one report, size-aware defaults, one-line errors."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from freqlens import runs
from freqlens.analyses import band_attacks, heatmap_plan
from freqlens.audit import ModelSpec, audit, default_params, plan
from freqlens.cli import main
from freqlens.errors import FreqlensError
from freqlens.experiments.audit import Audit
from freqlens.experiments.base import Context
from freqlens.runner import reproduce
from freqlens.weights import file_sha256

NETS = textwrap.dedent(
    """
    import torch
    from torch import nn


    def cnn(classes=3, width=4):
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes)
        )


    def mlp32(classes=3):
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, classes))


    class Volume(nn.Module):
        def forward(self, x):
            return x[:, :, :3, :1]


    def volume():
        return Volume()
    """
)


@pytest.fixture
def nets(tmp_path, monkeypatch):
    """A user module of tiny models importable as ``auditnets:...`` (cwd on the path, as for the CLI)."""
    (tmp_path / "auditnets.py").write_text(NETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield
    sys.modules.pop("auditnets", None)


def make_folder(root, size, per_class=3, classes=("a", "b", "c")):
    rng = np.random.default_rng(size)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


# ------------------------------------------------------------------------------------------------- heat-map plans


@pytest.mark.parametrize("size", [32, 64, 96, 224])
def test_default_plan_is_full_up_to_64_and_a_window_plus_grid_beyond(size):
    plan = heatmap_plan.default_plan(size, size)
    assert plan.is_full == (size <= 64)
    if not plan.is_full:
        assert plan.pairs.numel() <= 2 * heatmap_plan.TARGET_PAIRS
        assert plan.window == max(1, size // 32) and "blank" in plan.describe()


def test_window_and_grid_select_the_stated_frequencies():
    h = w = 24
    positions = heatmap_plan.fourier.symmetric_positions(h, w)
    ky, kx = positions[:, 0] - h // 2, positions[:, 1] - w // 2
    window = heatmap_plan.make_plan(h, w, window=2)
    assert set(window.pairs.tolist()) == {i for i in range(len(ky)) if abs(ky[i]) <= 2 and abs(kx[i]) <= 2}
    grid = heatmap_plan.make_plan(h, w, stride=4)
    assert set(grid.pairs.tolist()) == {i for i in range(len(ky)) if ky[i] % 4 == 0 and kx[i] % 4 == 0}
    both = heatmap_plan.make_plan(h, w, window=2, stride=4)
    assert set(both.pairs.tolist()) == set(window.pairs.tolist()) | set(grid.pairs.tolist())
    assert heatmap_plan.make_plan(h, w).is_full
    assert both.forward_passes(10) == (both.pairs.numel() + 1) * 10
    with pytest.raises(FreqlensError, match="stride"):
        heatmap_plan.make_plan(h, w, stride=0)


def test_cost_line_states_passes_and_time():
    plan = heatmap_plan.default_plan(224, 224)
    line = heatmap_plan.cost_line(plan, 10, 0.01)
    assert f"{(plan.pairs.numel() + 1) * 10:,} forward passes" in line and "about 21 s at 100 img/s" in line
    assert "about 3.5 min" in heatmap_plan.cost_line(plan, 100, 0.01)


def test_defaults_scale_with_the_image_size():
    assert default_params("hfc", 224, 224, 500, 1000)["radii"] == [28.0, 56.0, 84.0, 112.0]
    assert default_params("hfc", 32, 32, 500, 10)["radii"] == [4.0, 8.0, 12.0, 16.0]
    small, large = default_params("heatmap", 32, 32, 500, 10), default_params("heatmap", 224, 224, 500, 1000)
    assert small["window"] is None and large["window"] == 7 and large["n"] < small["n"]
    assert small["eps"] == 4.0 and large["eps"] == 15.7  # Yin et al.'s CIFAR-10 and ImageNet norms
    attack_small, attack_large = (default_params("band_attacks", s, s, 500, 10)["eps"] for s in (32, 224))
    assert attack_small == 0.03 and attack_large == pytest.approx(0.03 * 32 / 224, abs=1e-5)
    assert default_params("sensitivity", 32, 32, 500, 10)["target"] == "logits"
    assert default_params("sensitivity", 224, 224, 500, 1000)["target"] == "projection"


# ------------------------------------------------------------------------------------------------- band attacks


def test_band_attacks_leave_a_dc_only_model_alone_outside_dc():
    """A model reading only each image's mean (DC) is untouched by attacks confined to bands without DC."""
    torch.manual_seed(0)
    weight = torch.tensor([[1.0], [-1.0]])

    class Mean(torch.nn.Module):
        def forward(self, x):
            return (x.mean(dim=(1, 2, 3)) - 0.5)[:, None] * weight.T * 100

    x = 0.4 + 0.2 * torch.rand(16, 3, 16, 16)  # no clipping at eps 0.03
    y = (x.mean(dim=(1, 2, 3)) > 0.5).long().neg().add(1)
    result = band_attacks.band_attacks_analysis(Mean(), x, y, bands=["full", "hfc:2", "band:2:5"], eps=0.03, steps=3)
    clean = result.value("accuracy_clean")
    assert clean == 1.0
    assert result.value("accuracy_hfc:2") == clean and result.value("accuracy_band:2:5") == clean
    assert result.value("accuracy_full") < clean


# ------------------------------------------------------------------------------------------------- the audit


@pytest.mark.parametrize("size", [32, 64, 96, 224])
def test_plan_checks_every_model_on_folders_of_any_size(tmp_path, nets, size):
    folder = make_folder(tmp_path / f"imgs{size}", size, per_class=1)
    cells = plan([ModelSpec("auditnets:cnn", normalize="none")], str(folder), analyses=["feature_spectra"], n=2)
    (cell,) = cells
    assert cell.config["data"]["n"] == 2 and cell.config["model"]["sha256"] is None
    assert cell.config["params"] == default_params("feature_spectra", size, size, 2, 3)


def test_audit_of_two_models_writes_one_report_with_both(tmp_path, nets):
    folder = make_folder(tmp_path / "imgs", 32)
    out = tmp_path / "out"
    models = [ModelSpec("auditnets:cnn", "first", normalize="none"), ModelSpec("small_cnn", "second")]
    result = audit(models, str(folder), out, analyses=["feature_spectra", "band_attacks"], n=6, progress=False)
    summary = json.loads((out / "audit" / "summary.json").read_text())
    assert [t["columns"][1:] for t in summary["tables"]] == [["first", "second"]] * 2
    page = result.html.read_text()
    for label in ("first", "second"):
        assert page.count(f"<strong>{label}</strong>") >= 2  # one captioned figure per analysis
    assert all((out / "audit" / f["path"]).is_file() for f in summary["figures"])
    rows = runs.Index(out / "runs").query(kind="audit")
    assert len(rows) == 4 and all(r["status"] == "done" for r in rows)
    again = audit(models, str(folder), out, analyses=["feature_spectra"], n=6, progress=False)
    assert json.loads((again.html.parent / "reproduce.json").read_text())["cells_run_now"] == 0


def test_reproduce_takes_a_recipe_instance_and_a_changed_model_file_is_a_new_cell(tmp_path, nets):
    folder = make_folder(tmp_path / "imgs", 32, per_class=1)
    model_file = tmp_path / "m.pt"
    torch.save(__import__("auditnets").cnn().state_dict(), model_file)
    spec = ModelSpec(str(model_file), arch="auditnets:cnn", normalize="none")
    first = plan([spec], str(folder), analyses=["feature_spectra"], n=2)
    ctx = Context(tmp_path / "runs", progress=False)
    reproduce([Audit(first)], ctx, __import__("freqlens.executors").executors.InlineExecutor(), tmp_path / "o")
    state = torch.load(model_file, weights_only=True)
    state["0.weight"].add_(1.0)
    torch.save(state, model_file)
    second = plan([spec], str(folder), analyses=["feature_spectra"], n=2)
    assert first[0].config["model"]["sha256"] != second[0].config["model"]["sha256"]
    assert first[0].key("audit") != second[0].key("audit")
    with pytest.raises(FreqlensError, match="changed since the audit was planned"):
        Audit(first).run_cell(first[0], tmp_path / "x", ctx)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["auditnets:mlp32", "--normalize", "none"], "cannot read images of shape"),
        (["auditnets:volume", "--normalize", "none"], "must return (N, classes)"),
        (["auditnets:cnn", "--normalize", "none", "--model-arg", "classes=5"], "has 5 outputs but the image set has 3"),
        (["nosuchpackage.nets:cnn", "--normalize", "none"], "nosuchpackage"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(tmp_path, nets, capsys, args, message):
    folder = make_folder(tmp_path / "imgs", 64, per_class=1)
    out = tmp_path / "out"
    code = main(["audit", *args, "--data", str(folder), "-n", "2", "--analyses", "feature_spectra", "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and message in err[-1]
    assert "Traceback" not in "\n".join(err) and not out.exists()


def test_an_unreadable_image_is_named(tmp_path, nets, capsys):
    folder = make_folder(tmp_path / "imgs", 32, per_class=1)
    (folder / "a" / "broken.png").write_bytes(b"not an image")
    args = ["--normalize", "none", "--data", str(folder), "--analyses", "feature_spectra", "-o", str(tmp_path / "o")]
    code = main(["audit", "auditnets:cnn", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "broken.png" in err[-1] and not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------------------- sampled maps


@pytest.mark.parametrize(("window", "stride"), [(2, None), (None, 3), (1, 4)])
def test_sampled_heat_map_equals_the_full_map_at_its_bins_and_is_blank_elsewhere(window, stride):
    from freqlens.analyses.heatmap import fourier_heatmap, heatmap_figure, sampled_profile

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(4 * 12 * 12, 3)
    )
    x, y = torch.rand(5, 3, 12, 12), torch.randint(0, 3, (5,))
    full = fourier_heatmap(model, x, y, 3.0, seed=1, batch_size=64)
    plan = heatmap_plan.make_plan(12, 12, window, stride)
    part = fourier_heatmap(model, x, y, 3.0, seed=1, batch_size=64, plan=plan)
    sampled = part.error.isfinite()
    assert 0 < int(sampled.sum()) < 144 and torch.equal(sampled, part.loss.isfinite())
    assert torch.allclose(part.error[sampled], full.error[sampled]) and torch.allclose(
        part.loss[sampled], full.loss[sampled]
    )
    assert torch.equal(sampled, sampled.flip(0).flip(1).roll((1, 1), (0, 1)))  # mirror pairs filled together
    assert part.summary()["heatmap_sampling"] == plan.describe()
    profile = sampled_profile(part.error)
    assert profile[0] == full.error[6, 6] and heatmap_figure(part) is not None


# ------------------------------------------------------------------------------------------------- sensitivity targets


def _linear(k=3, c=2, h=4, w=4):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(c * h * w, k).double()), torch.rand(
        5, c, h, w, dtype=torch.float64
    )


def test_random_projections_are_unbiased_for_the_logit_gradient_power():
    """f(x) = W x: the 'logits' power is sum_k |FFT(W_k)|^2 per image; the mean of many projection estimates
    matches it within a few standard errors, and single estimates do vary (so the test can fail)."""
    from freqlens.analyses.sensitivity import gradient_power

    model, x = _linear()
    exact, k = gradient_power(model, x, target="logits")
    assert k == 3
    g = torch.Generator().manual_seed(0)
    draws = torch.stack(
        [gradient_power(model, x, target="projection", projections=1, generator=g)[0] for _ in range(3000)]
    )
    mean, stderr = draws.mean(0), draws.std(0) / 3000**0.5
    assert float(draws.std(0).max()) > 0.01 * float(exact.max())
    assert bool(((mean - exact).abs() <= 5 * stderr + 1e-12).all())
    one, k_proj = gradient_power(model, x, target="projection", projections=8, generator=torch.Generator())
    assert k_proj == 3 and one.shape == exact.shape


def test_true_logit_target_is_the_gradient_of_the_labelled_logit():
    from freqlens.analyses.sensitivity import gradient_power

    model, x = _linear()
    y = torch.tensor([0, 2, 1, 2, 0])
    power, k = gradient_power(model, x, y, target="true_logit")
    rows = model[1].weight.detach().view(3, *x.shape[1:])[y]
    expected = torch.fft.fft2(rows, norm="ortho").abs() ** 2
    assert k == 1 and torch.allclose(power, expected)
    with pytest.raises(FreqlensError, match="needs labels"):
        gradient_power(model, x, None, target="true_logit")


def test_sensitivity_analysis_says_which_target_it_used():
    from freqlens.analyses.sensitivity import model_vs_data

    model, x = _linear(k=12)
    y = torch.randint(0, 12, (5,))
    result = model_vs_data(model, x.float(), y, target="projection", metric="rms", projections=2)
    assert result.params["target"] == "projection" and result.params["projections"] == 2
    assert result.conventions["target"].startswith("projection: random projections")


# ------------------------------------------------------------------------------------------------- every analysis


def test_default_audit_runs_every_analysis_and_skips_kernels_without_a_first_convolution(tmp_path, nets):
    folder = make_folder(tmp_path / "imgs", 32, per_class=2)
    out = tmp_path / "out"
    models = [
        ModelSpec("auditnets:cnn", "cnn", normalize="none"),
        ModelSpec("auditnets:mlp32", "mlp", normalize="none"),
    ]
    params = {"perturbations": {"steps": 1}, "band_attacks": {"steps": 1}, "heatmap": {"n": 2, "stride": 8}}
    audit(models, str(folder), out, n=6, progress=False, params=params)
    summary = json.loads((out / "audit" / "summary.json").read_text())
    titles = [t["title"].split(":")[0] for t in summary["tables"]]
    assert titles[1].startswith("images (6 of 6 shown")  # each image's file and each model's clean prediction
    titles.pop(1)
    assert titles == ["hfc", "heatmap", "sensitivity", "kernels", "perturbations", "band_attacks", "feature_spectra"]
    kernels = next(t for t in summary["tables"] if t["title"].startswith("kernels"))
    assert kernels["columns"] == ["metric", "cnn"]  # the MLP has no convolution: skipped, and said so
    assert "**kernels** skipped for mlp" in summary["text"]
    paths = [f["path"] for f in summary["figures"]]
    assert paths.index("hfc/accuracy_vs_radius/mlp.png") == paths.index("hfc/accuracy_vs_radius/cnn.png") + 1
    heat = next(f for f in summary["figures"] if f["path"] == "heatmap/heatmap/cnn.png")
    assert "sampled map" in heat["caption"] and "blank" in heat["caption"]
    sens = next(f for f in summary["figures"] if f["path"].startswith("sensitivity/sensitivity/cnn"))
    assert "target: logits" in sens["caption"]


def test_each_model_carries_its_own_options_and_weights_file(tmp_path, nets, capsys):
    from freqlens.analyses.kernels import find_conv
    from freqlens.audit import parse_model_spec
    from freqlens.models import create_model

    folder = make_folder(tmp_path / "imgs", 32, per_class=2)
    trained = create_model("small_cnn", num_classes=3, width=4)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.1)
    weights = tmp_path / "w.pth"
    torch.save(trained.state_dict(), weights)
    spec = parse_model_spec(f"small_cnn,weights={weights},label=trained,width=4")
    assert (spec.spec, spec.label, dict(spec.kwargs), spec.weights) == (
        "small_cnn",
        "trained",
        {"width": 4},
        str(weights),
    )
    out = tmp_path / "out"
    args = ["audit", f"small_cnn,weights={weights},label=trained,width=4", "small_cnn,width=4,label=fresh,seed=3"]
    assert main([*args, "--data", str(folder), "--analyses", "kernels", "-o", str(out), "--no-progress"]) == 0
    runs_seen = {p.parent.name.split("-")[0]: json.loads(p.read_text()) for p in (out / "runs").rglob("summary.json")}
    assert runs_seen["trained"]["model"]["weights"]["sha256"] == file_sha256(weights)
    kernel = np.load(next((out / "runs").rglob("trained-*/arrays.npz")))["weight"]
    assert np.array_equal(kernel, find_conv(trained)[1].weight.detach().numpy())  # the file's weights, loaded
    assert runs_seen["fresh"]["model"]["init_seed"] == 3 and runs_seen["fresh"]["model"]["weights"] == {"tag": None}
    assert main(["audit", "small_cnn,weights=IMAGENET1K_V1", "--data", str(folder), "-o", str(out)]) == 2
    assert "registry model small_cnn has no published weights" in capsys.readouterr().err
    assert main(["audit", "small_cnn,width", "--data", str(folder), "-o", str(out)]) == 2
    assert "must be key=value" in capsys.readouterr().err
