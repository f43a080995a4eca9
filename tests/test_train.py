"""Training core: config, augmentation, exact resume, divergence, bad input, checkpoints, wiring of the switches."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from freqlens import fourier
from freqlens.checkpoint import load_model, save_model
from freqlens.errors import FreqlensError
from freqlens.models import Normalize, create_model, register_model
from freqlens.train import EpochContext, TrainConfig, load_config, lr_factor, train
from freqlens.train.augment import mixup, parse_augment
from freqlens.train.config import auto_batch_size
from freqlens.train.loop import load_data, native_cpu_bfloat16

TINY = "synthetic:powerlaw?n=96&size=16&classes=2"
TIME_KEYS = {"epoch_time_s", "train_time_s", "train_images_per_s"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster


def tiny(**changes: Any) -> TrainConfig:
    base = {
        "data": TINY,
        "epochs": 3,
        "batch_size": 32,
        "optimizer": "sgd",
        "lr": 0.05,
        "model_kwargs": {"width": 4, "dropout": 0.2},
        "eval_radii": [2, 5],
        "device": "cpu",
    }
    return TrainConfig.from_dict({**base, **changes})


def strip_times(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if k not in TIME_KEYS} for m in metrics]


# ------------------------------------------------------------------------------------------------------------ config


def test_config_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(FreqlensError, match="unknown config key 'batchsize' \\(did you mean batch_size\\?\\)"):
        TrainConfig.from_dict({"batchsize": 3})
    with pytest.raises(FreqlensError, match=r"'epochs' must be int, got 2.5"):
        TrainConfig.from_dict({"epochs": 2.5})
    with pytest.raises(FreqlensError, match="'amp' must be bool"):
        TrainConfig.from_dict({"amp": 1})
    with pytest.raises(FreqlensError, match=r"optimizer.*one of sgd, adam, adamw"):
        TrainConfig.from_dict({"optimizer": "rmsprop"})
    with pytest.raises(FreqlensError, match="unknown view"):
        TrainConfig.from_dict({"train_view": "lowpass:4"})
    with pytest.raises(FreqlensError, match="bad augment item"):
        TrainConfig.from_dict({"augment": "flip,rotate:3"})
    with pytest.raises(FreqlensError, match="cannot be combined"):
        TrainConfig.from_dict({"adversarial": "pgd", "mixup_alpha": 1.0})
    cfg = TrainConfig.from_dict({"lr": 1, "eval_radii": [4, 8]})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.eval_radii == (4.0, 8.0)
    with pytest.raises(AttributeError):
        cfg.lr = 2.0  # type: ignore[misc]


def test_config_files_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('model = "hfc_resnet32"\nlr = 1e-4\n[model_kwargs]\nbatchnorm = true\n')
    (tmp_path / "b.json").write_text(json.dumps({"model": "vgg11", "epochs": 7}))
    cfg = load_config(tmp_path / "a.toml", {"lr": 0.5})
    assert (cfg.model, cfg.lr, cfg.model_kwargs) == ("hfc_resnet32", 0.5, {"batchnorm": True})
    assert load_config(tmp_path / "b.json").epochs == 7
    (tmp_path / "bad.toml").write_text("lr = ")
    with pytest.raises(FreqlensError, match="cannot parse"):
        load_config(tmp_path / "bad.toml")
    with pytest.raises(FreqlensError, match="does not exist"):
        load_config(tmp_path / "missing.json")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_lr_schedules() -> None:
    total = 100
    tri = [lr_factor(s, total, 0.1, "triangle") for s in range(total)]
    assert tri[9] == 1.0 and tri.index(max(tri)) == 9 and all(a >= b for a, b in itertools.pairwise(tri[9:]))
    assert tri[-1] == pytest.approx(1 / 90)
    assert [lr_factor(s, total, 0.0, "constant") for s in (0, 50, 99)] == [1.0, 1.0, 1.0]
    assert lr_factor(0, total, 0.0, "cosine") == 1.0 and lr_factor(50, total, 0.0, "cosine") == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------------------ augmentation


@pytest.mark.parametrize("spec", ["crop:2", "translate:3", "roll:2", "flip,crop:2", "flip"])
def test_augmentation_matches_a_per_image_reference(spec: str) -> None:
    """Each image is its padded copy's window at the drawn offsets, flipped when the draw says so."""
    aug = parse_augment(spec)
    x = torch.rand(40, 3, 8, 6)
    out = aug(x, torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)  # replay the draws in the same order
    p = aug.pad
    shifts = torch.randint(0, 2 * p + 1, (2, 40), generator=gen)
    flips = torch.rand(40, generator=gen) < 0.5 if aug.flip else torch.zeros(40, dtype=torch.bool)
    padded = torch.nn.functional.pad(x, (p, p, p, p), mode=aug.mode)
    for i in range(40):
        dy, dx = shifts[:, i].tolist()
        expected = padded[i, :, dy : dy + 8, dx : dx + 6]
        torch.testing.assert_close(out[i], expected.flip(-1) if flips[i] else expected, rtol=0, atol=0)
    assert 0 < int(flips.sum()) < 40 or not aug.flip


def test_mixup() -> None:
    x = torch.rand(64, 1, 4, 4)
    labels = torch.arange(64)
    mixed, partner, lam = mixup(x, labels, 1.0, torch.Generator().manual_seed(0))
    assert 0 <= lam <= 1 and sorted(partner.tolist()) == list(range(64))
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[partner])
    assert parse_augment("none").describe() == "none"


# ------------------------------------------------------------------------------------------------------------- data


def test_views_subsets_and_label_shuffle() -> None:
    cfg = tiny(train_view="lfc:3", shuffle_labels=True, train_subset=64, test_subset=40)
    data = load_data(cfg, torch.device("cpu"))
    plain = load_data(tiny(train_subset=64, test_subset=40), torch.device("cpu"))
    assert data.train_x.shape[0] == 64 and data.test_x.shape[0] == 40
    torch.testing.assert_close(data.train_x, fourier.lowpass(plain.train_x, 3))
    assert torch.equal(torch.bincount(data.train_y), torch.bincount(plain.train_y))  # a permutation of the labels
    assert not torch.equal(data.train_y, plain.train_y)
    torch.testing.assert_close(data.test_x, plain.test_x)  # the test set is never filtered


# ----------------------------------------------------------------------------------------------------------- resume


@pytest.mark.parametrize("changes", [{"mixup_alpha": 0.5}, {"adversarial": "fgsm_rs", "augment": "flip,crop:2"}])
def test_resume_is_bit_identical(tmp_path: Path, changes: dict[str, Any]) -> None:
    """3 epochs in one go == 2 epochs, stop, resume for the 3rd: same weights, optimizer state and metrics."""
    cfg = tiny(shuffle_labels=True, **changes)
    whole = train(cfg, tmp_path / "whole", progress=False)
    part = train(cfg, tmp_path / "part", progress=False, stop_after=2)
    assert len(part.metrics) == 2
    resumed = train(cfg, tmp_path / "part", progress=False, resume=True)
    assert strip_times(resumed.metrics) == strip_times(whole.metrics)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=True)
    for key in ("state", "param_groups"):
        assert str(a["optimizer"][key]) == str(b["optimizer"][key])
    lines = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    assert strip_times([json.loads(line) for line in lines]) == strip_times(whole.metrics)
    assert (
        len(whole.final["train_lfc_acc"]) == len(whole.final["train_hfc_acc"]) == len(whole.final["test_hfc_acc"]) == 2
    )


def test_existing_run_needs_resume_and_the_same_config(tmp_path: Path) -> None:
    cfg = tiny(epochs=2)
    train(cfg, tmp_path, progress=False, stop_after=1)
    with pytest.raises(FreqlensError, match="already holds a training run; resume it"):
        train(cfg, tmp_path, progress=False)
    with pytest.raises(FreqlensError, match=r"another config \(lr: 0.05 -> 0.1\)"):
        train(cfg.replace(lr=0.1), tmp_path, progress=False, resume=True)
    done = train(cfg, tmp_path, progress=False, resume=True)
    assert [m["epoch"] for m in done.metrics] == [1, 2]


# ------------------------------------------------------------------------------------------------------- divergence


class _Poisonable(nn.Module):
    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.normalize = Normalize([0.5] * in_channels, [0.25] * in_channels)
        self.linear = nn.Linear(in_channels, num_classes)
        self.poison = False
        self.dtypes: set[torch.dtype] = set()  # of the logits, to see autocast at work

    def forward(self, x: Tensor) -> Tensor:
        out = self.linear(self.normalize(x).mean(dim=(2, 3)))
        self.dtypes.add(out.dtype)
        return out * float("nan") if self.poison and self.training else out


@register_model(name="_poisonable")
def _poisonable(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    return _Poisonable(in_channels, num_classes)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    def poison_after_first(ctx: EpochContext) -> dict[str, Any]:
        ctx.model.poison = True  # type: ignore[assignment]
        return {}

    cfg = tiny(model="_poisonable", model_kwargs={})
    with pytest.raises(
        FreqlensError, match=r"diverged: the mean loss became nan in epoch 2.*checkpoint of epoch 1 is kept"
    ):
        train(cfg, tmp_path, progress=False, callbacks=[poison_after_first])
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["state_dict"].values())
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1
    model, info = load_model(tmp_path / "model.pt")
    assert info["epoch"] == 1 and torch.isfinite(model(torch.rand(2, 3, 16, 16))).all()


def test_radius_too_large_for_the_images(tmp_path: Path) -> None:
    with pytest.raises(FreqlensError, match=r"eval_radii: radius 40.0 is beyond the spectrum of a 16x16 image"):
        train(tiny(eval_radii=[4, 40]), tmp_path, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()


# ------------------------------------------------------------------------------------------------------ adversarial


def test_adversarial_training_calls_the_attacks_as_configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import freqlens.attacks as attacks

    calls: list[dict[str, Any]] = []

    def spy(real: Any) -> Any:
        def wrapped(model: nn.Module, x: Tensor, y: Tensor, eps: float, **kw: Any) -> Tensor:
            calls.append({"fn": real.__name__, "eps": eps, "training": model.training, **kw})
            out: Tensor = real(model, x, y, eps, **kw)
            assert (out - x).abs().max() <= eps + 1e-6 and out.min() >= 0 and out.max() <= 1
            return out

        return wrapped

    monkeypatch.setattr(attacks, "pgd", spy(attacks.pgd))
    monkeypatch.setattr(attacks, "fgsm", spy(attacks.fgsm))
    train(tiny(epochs=1, adversarial="pgd", adv_steps=3), tmp_path / "pgd", progress=False)
    assert calls[0]["fn"] == "pgd" and calls[0]["eps"] == 0.03 and calls[0]["steps"] == 3
    assert calls[0]["step_size"] == pytest.approx(0.003) and calls[0]["random_start"] is False
    assert calls[0]["training"] is False  # examples are generated with the model in eval mode
    calls.clear()
    train(tiny(epochs=1, adversarial="fgsm_rs", adv_eps=0.05), tmp_path / "fgsm", progress=False)
    assert calls[0]["fn"] == "fgsm" and calls[0]["eps"] == 0.05 and calls[0]["random_start"] is True
    assert [c["fn"] for c in calls].count("fgsm") == 3  # one attack per batch: 96 images / 32


# ------------------------------------------------------------------------------------------------------ it learns


def test_training_learns_an_easy_task(tmp_path: Path) -> None:
    """Classes differ in spectral slope: the loop must fit the training split and generalise to the test split."""
    cfg = tiny(
        data="synthetic:powerlaw?n=512&size=16&classes=2&spread=2",
        model_kwargs={"width": 8},
        epochs=4,
        lr=0.02,
        eval_radii=[4],
    )
    result = train(cfg, tmp_path, progress=False)
    assert result.final["test_acc"] > 0.9
    assert result.final["train_acc"] > 0.9


# ------------------------------------------------------------------------------------------------------ checkpoints


def test_load_model_round_trip_and_architecture_errors(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = create_model("small_cnn", width=4, batchnorm=False)
    path = save_model(net, tmp_path / "m.pt", note="x")
    again, info = load_model(path, model="small_cnn")
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(again(x), net.eval()(x)) and info["kwargs"] == {"width": 4, "batchnorm": False}
    with pytest.raises(
        FreqlensError, match="holds a small_cnn\\(width=4, batchnorm=False\\) model, not the 'resnet18'"
    ):
        load_model(path, model="resnet18")
    torch.save(net.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(FreqlensError, match="bare state_dict; say which model"):
        load_model(tmp_path / "bare.pt")
    with pytest.raises(FreqlensError, match=r"weights of another architecture than myrtle_cnn.*missing"):
        load_model(tmp_path / "bare.pt", model="myrtle_cnn")
    with pytest.raises(FreqlensError, match="other shape"):
        load_model(tmp_path / "bare.pt", model="small_cnn", model_kwargs={"width": 8, "batchnorm": False})
    bare, _ = load_model(tmp_path / "bare.pt", model="small_cnn", model_kwargs={"width": 4, "batchnorm": False})
    assert torch.equal(bare(x), net(x))
    torch.save({"evil": nn.Linear(2, 2)}, tmp_path / "pickled.pt")  # a module needs full unpickling
    with pytest.raises(FreqlensError, match=r"cannot read .* as a weights-only torch file"):
        load_model(tmp_path / "pickled.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(FreqlensError, match="cannot read"):
        load_model(tmp_path / "text.pt")
    with pytest.raises(FreqlensError, match="no model file"):
        load_model(tmp_path / "none.pt")


def test_shipped_configs_are_valid() -> None:
    configs = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))
    assert configs
    for path in configs:
        cfg = load_config(path)
        assert cfg.eval_radii == (4.0, 8.0, 12.0, 16.0), path.name
    madry = load_config(configs[0].parent / "hfc_madry.toml")
    assert (madry.adversarial, madry.adv_eps, madry.adv_steps, madry.adv_step_size) == ("pgd", 0.03, 10, 0.003)


def test_cpu_bfloat16_autocast(tmp_path: Path) -> None:
    result = train(tiny(epochs=1, cpu_amp="on", model="_poisonable", model_kwargs={}), tmp_path, progress=False)
    assert result.model.dtypes == {torch.bfloat16}  # type: ignore[comparison-overlap]
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in result.model.parameters())
    plain = train(
        tiny(epochs=1, cpu_amp="off", model="_poisonable", model_kwargs={}), tmp_path / "plain", progress=False
    )
    assert plain.model.dtypes == {torch.float32}  # type: ignore[comparison-overlap]
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["provenance"]["amp"] == "bfloat16" and written["config"]["cpu_amp"] == "on"
    assert json.loads((tmp_path / "plain" / "config.json").read_text())["provenance"]["amp"] is None
    auto = train(tiny(epochs=1, model="_poisonable", model_kwargs={}), tmp_path / "auto", progress=False)
    expected = {torch.bfloat16} if native_cpu_bfloat16() else {torch.float32}
    assert auto.model.dtypes == expected  # type: ignore[comparison-overlap]
    with pytest.raises(FreqlensError, match="cpu_amp"):
        tiny(cpu_amp="yes")


# ------------------------------------------------------------------------------------- fail loudly (issue 12)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr": float("nan")}, "config key 'lr' must be a finite number, got nan"),
        ({"lr": float("inf")}, "config key 'lr' must be a finite number"),
        ({"eval_radii": [4, float("inf")]}, "config key 'eval_radii' must be a finite number"),
        ({"weight_decay": float("nan")}, "config key 'weight_decay' must be a finite number"),
        ({"adv_eps": 8.0}, "adv_eps <= 1"),
        ({"adv_step_size": 0.0}, "0 < adv_step_size <= 1"),
    ],
)
def test_config_rejects_non_finite_and_out_of_range_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(FreqlensError, match=re.escape(message)):
        tiny(**changes)


def test_cli_lr_nan_is_rejected_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from freqlens.cli import main

    out, runs_root = tmp_path / "out", tmp_path / "runs"
    args = ["train", "--data", TINY, "--lr", "nan", "--device", "cpu", "--no-progress", "--runs", str(runs_root)]
    assert main([*args, "-o", str(out)]) == 2
    assert capsys.readouterr().err == "error: config key 'lr' must be a finite number, got nan\n"
    assert not out.exists() and not list(tmp_path.rglob("*.json"))


class _Loud(nn.Module):
    """Logits times ``scale`` while training: a finite loss far above chance, as a diverging run has."""

    def __init__(self, in_channels: int, num_classes: int, scale: float) -> None:
        super().__init__()
        self.linear = nn.Linear(in_channels, num_classes)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        out = self.linear(x.mean(dim=(2, 3)) * 4 - 2)
        return out * self.scale if self.training else out


@register_model(name="_loud")
def _loud(num_classes: int = 10, in_channels: int = 3, image_size: int = 32, scale: float = 1.0) -> nn.Module:
    return _Loud(in_channels, num_classes, scale)


def test_a_finite_but_diverging_loss_stops_the_run_and_keeps_the_last_good_epoch(tmp_path: Path) -> None:
    def get_loud(ctx: EpochContext) -> dict[str, Any]:
        ctx.model.scale = 1e4  # type: ignore[assignment]
        return {}

    cfg = tiny(model="_loud", model_kwargs={}, lr=1e-4)
    with pytest.raises(
        FreqlensError,
        match=r"diverged: the mean training loss of epoch 2 is \d+\.\d+, far above chance "
        r"\(ln 2 = 0.69\), and not falling; the checkpoint of epoch 1 is kept",
    ):
        train(cfg, tmp_path, progress=False, callbacks=[get_loud])
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_a_run_diverging_in_its_first_epoch_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(FreqlensError, match=r"epoch 1 .* no epoch had finished, nothing saved; lower lr"):
        train(tiny(model="_loud", model_kwargs={"scale": 1e4}), out, progress=False)
    assert not out.exists()


def test_default_batch_size_trains_a_small_subset_to_a_usable_eval_mode_model(tmp_path: Path) -> None:
    """Issue 12: with batch 256, one epoch on a small set was a handful of steps, BatchNorm's running statistics were
    still near their initial values and the eval-mode model scored chance. Auto batch: >= 50 steps."""
    cfg = TrainConfig.from_dict(
        {
            "data": "synthetic:powerlaw?n=1000&size=16&classes=2&spread=2",
            "model_kwargs": {"width": 8},  # small_cnn with BatchNorm (running statistics), the default optimiser
            "epochs": 1,
            "eval_radii": [],
            "device": "cpu",
        }
    )
    assert cfg.batch_size is None
    result = train(cfg, tmp_path, progress=False)
    recorded = json.loads((tmp_path / "config.json").read_text())
    assert recorded["batch_size"] == auto_batch_size(recorded["data"]["train_images"]) == 20
    assert result.final["test_acc"] > 0.85


def test_training_curves_and_the_hfc_evaluation_read_the_same_lfc_hfc_accuracy(tmp_path: Path) -> None:
    """One LFC/HFC pass (views.classify_views): the last epoch's logged test LFC/HFC accuracy is what evaluate_hfc
    measures on the saved model and the same test images, at every radius."""
    from freqlens.analyses.hfc import evaluate_hfc
    from freqlens.data import open_dataset

    cfg = tiny(epochs=1, amp=False, channels_last=False)
    result = train(cfg, tmp_path, progress=False)
    model, _ = load_model(tmp_path / "model.pt")
    test = open_dataset(TINY, "test")
    measured = evaluate_hfc(model, test, cfg.eval_radii, normalize="per_image_max", progress=False)
    assert measured.accuracy("lfc").tolist() == pytest.approx(result.final["test_lfc_acc"], abs=1e-6)
    assert measured.accuracy("hfc").tolist() == pytest.approx(result.final["test_hfc_acc"], abs=1e-6)
    assert float(measured.accuracy("original")) == pytest.approx(result.final["test_acc"], abs=1e-6)
