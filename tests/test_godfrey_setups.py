"""The Godfrey set-ups train what the papers train (issue 13, defects 1 and 2), checked with the real trainer on
synthetic data: high-pass models standardise with their own data's statistics, and the linear circular CNN reaches a
sensitivity that follows the data's spectrum."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from freqlens import fourier, views
from freqlens.analyses import datastats
from freqlens.checkpoint import load_model
from freqlens.contract import Estimate
from freqlens.data import open_dataset
from freqlens.data.synthetic import powerlaw_fields
from freqlens.experiments.godfrey.measure import per_image_sensitivity
from freqlens.experiments.godfrey.setups import HIGHPASS, base_decay, train_setup
from freqlens.models import create_model
from freqlens.models.layers import fit_input_statistics
from freqlens.train import TrainConfig, train
from freqlens.train.augment import parse_augment

pytestmark = pytest.mark.usefixtures("one_thread")

SPECTRAL = "synthetic:powerlaw?n=1200&classes=4&spread=2&seed=3"  # the label is the spectrum's exponent


def test_data_normalisation_fits_the_training_view():
    model = create_model("small_cnn", width=4, normalize="data")
    x = views.parse_view(HIGHPASS)(torch.rand(64, 3, 32, 32))
    stats = fit_input_statistics(model, x)
    assert stats is not None and np.allclose(stats["mean"], 0.0, atol=1e-6)  # high-pass images have zero mean
    assert np.allclose(stats["std"], x.double().std(dim=(0, 2, 3)).numpy(), rtol=1e-5)
    assert fit_input_statistics(create_model("small_cnn", width=4), x) is None  # CIFAR statistics stay


@pytest.mark.slow
def test_augmented_highpass_training_images_stay_high_pass():
    """Godfrey's augmentation is circular: the removed square stays empty (to round-off). A padded shift, the set-up
    before, put about 1 % of the power back inside it, where a linear CNN with decay then put all its sensitivity."""
    x = views.parse_view(HIGHPASS)(torch.rand(64, 3, 32, 32, dtype=torch.float64))
    inside = fourier.square_mask(32, 32, 8, symmetric=True)  # the bins the filter zeroes fully (|k| <= 7 per axis)

    def share_inside(spec: str) -> float:
        y = parse_augment(spec)(x, torch.Generator().manual_seed(0))
        power = torch.fft.fftshift(torch.fft.fft2(y, norm="ortho").abs() ** 2, dim=(-2, -1))
        return float(power[..., inside].sum() / power.sum())

    assert share_inside(train_setup("cpu", "circular_linear", 2.0, HIGHPASS)["augment"]) < 1e-20
    assert share_inside("flip,translate:2") > 1e-3


def test_highpass_model_scores_the_same_in_eval_mode_as_with_batch_statistics(tmp_path):
    """Defect 1: standardised with CIFAR statistics, zero-mean high-pass images enter ~2 std off centre and a
    BatchNorm model scored 0.50 with batch statistics but 0.19 in eval mode."""
    setup = train_setup("quick", "small_cnn", 1e-5, HIGHPASS, data=SPECTRAL)
    # A schedule ending at lr 0, so that BatchNorm's running statistics describe the final weights: at a constant
    # rate they lag them, and on this task eval mode lost up to 0.18 (seed 2) whatever the normalisation. Under the
    # defect (CIFAR statistics) it still loses 0.21-0.37 over seeds 0-2.
    setup.update(train_subset=None, test_subset=None, epochs=2, batch_size=64, schedule="cosine")
    setup.update(optimizer="adam", lr=2e-3)  # the set-up the defect was found in: BatchNorm, Adam
    setup["model_kwargs"].update(width=8, batchnorm=True)
    result = train(TrainConfig.from_dict({**setup, "device": "cpu"}), tmp_path / "run", progress=False)
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["data"]["input_statistics"]
    assert np.allclose(recorded["mean"], 0.0, atol=1e-6)  # the high-pass view's own statistics, not CIFAR's
    model, _ = load_model(tmp_path / "run" / "model.pt")
    assert torch.allclose(model[0].mean.flatten(), torch.tensor(recorded["mean"]))  # saved with the weights
    test = open_dataset(SPECTRAL, "test")
    x = views.parse_view(HIGHPASS)(test.images)
    with torch.no_grad():
        eval_acc = float((result.model.eval()(x).argmax(1) == test.labels).float().mean())
        batch_acc = float((result.model.train()(x).argmax(1) == test.labels).float().mean())
    n = len(test.labels)
    assert eval_acc > 0.4  # it learned something (4 classes, chance 0.25)
    noise = Estimate.proportion(eval_acc * n, n) - Estimate.proportion(batch_acc * n, n)
    assert noise.low <= 0 <= noise.high, (eval_acc, batch_acc)


def teacher_folder(root: Path, n_train: int, n_test: int, size: int = 32, classes: int = 4) -> Path:
    """Power-law images (power ~ 1/|k|^2) labelled by a linear teacher with a flat spectrum: the theory's setting,
    where the regularised linear CNN should weight frequencies by their power (papers.md §2.2, A11)."""
    g = torch.Generator().manual_seed(0)
    fields = powerlaw_fields(n_train + n_test, 3, size, size, 2.0, g)
    phases = torch.fft.fft2(torch.randn(classes, 3, size, size, generator=g, dtype=torch.float64), norm="ortho")
    teachers = torch.fft.ifft2(phases / phases.abs(), norm="ortho").real  # |spectrum| == 1 everywhere
    labels = torch.einsum("nchw,kchw->nk", fields, teachers).argmax(1)
    images = (0.5 + 0.12 * fields).clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).numpy()
    for i, (image, label) in enumerate(zip(images, labels.tolist(), strict=True)):
        folder = root / ("train" if i < n_train else "test") / f"c{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.png")
    return root


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_linear_circular_cnn_sensitivity_follows_the_data_spectrum(tmp_path):
    """Defect 2: with He's gain and 240 Adam steps the linear circular CNN kept its random initial function where the
    data have little power, and its sensitivity was anti-correlated with the data (Spearman -0.86). With the recipe's
    set-up (variance-preserving initialisation, SGD with decay on weights, enough steps) it follows the data."""
    data = teacher_folder(tmp_path / "data", 2400, 256)
    setup = train_setup("quick", "circular_linear", base_decay("quick", "circular_linear"), data=str(data))
    setup.update(train_subset=None, test_subset=None, epochs=2)
    result = train(TrainConfig.from_dict({**setup, "device": "cpu"}), tmp_path / "run", progress=False)
    test = open_dataset(str(data), "test")
    sens = per_image_sensitivity(result.model, test.images[:32])
    profile = datastats.radial_distribution(sens["mean"])
    data_profile = datastats.radial_distribution(datastats.spectrum_map(open_dataset(str(data), "train").images))
    assert datastats.compare_profiles(profile, data_profile)["spearman"] > 0.5
