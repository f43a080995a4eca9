"""Fourier heat map: invariance, symmetry, seeding, and parity with the per-frequency loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from freqlens import fourier
from freqlens.analyses.heatmap import fourier_heatmap, heatmap_signs, loop_heatmap, mirror_pairs, subsample
from freqlens.errors import FreqlensError


class LowpassThen(nn.Module):
    """A model that sees only the frequencies |k| < radius of its input: exactly blind to the rest."""

    def __init__(self, radius: float, inner: nn.Module) -> None:
        super().__init__()
        self.radius = radius
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(fourier.lowpass(x, self.radius))


def tiny_cnn(classes: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, classes)
    ).double()


def data(n: int = 12, lo: float = 0.0, hi: float = 1.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = lo + (hi - lo) * torch.rand(n, 3, 8, 8, generator=g, dtype=torch.float64)
    return x, torch.randint(0, 4, (n,), generator=g)


def test_model_blind_to_high_frequencies_shows_no_change_there():
    # Images in [0.3, 0.7] and eps 1: |eps * U| <= 1.42 / 8 < 0.3, so nothing is clipped and the perturbation at
    # |k| >= 3 is removed exactly by the model's own low-pass filter.
    model = LowpassThen(3.0, tiny_cnn())
    x, y = data(lo=0.3, hi=0.7)
    hm = fourier_heatmap(model, x, y, eps=1.0, seed=1)
    blind = ~fourier.disk_mask(8, 8, 3.0)
    assert torch.all(hm.error[blind] == hm.clean_error)
    assert torch.allclose(hm.loss[blind], torch.full_like(hm.loss[blind], hm.clean_loss), atol=1e-12, rtol=0)
    seen = (hm.loss[~blind] - hm.clean_loss).abs()
    assert float(seen.min()) > 1e-6  # the frequencies it sees do change the loss


def test_map_is_symmetric_on_odd_and_even_sizes_and_matches_the_loop():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 7 * 6, 3), nn.Tanh(), nn.Linear(3, 4)).double()
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(9, 3, 7, 6, generator=g, dtype=torch.float64), torch.randint(0, 4, (9,), generator=g)
    fast = fourier_heatmap(model, x, y, eps=3.0, seed=5, batch_size=40)
    slow = loop_heatmap(model, x, y, eps=3.0, seed=5, batch_size=4)
    assert torch.equal(fast.error, slow.error)
    torch.testing.assert_close(fast.loss, slow.loss, rtol=1e-12, atol=1e-12)
    rows, cols = fourier.symmetric_index(7, torch.arange(7)), fourier.symmetric_index(6, torch.arange(6))
    assert torch.equal(fast.loss, fast.loss[rows][:, cols])  # k -> -k
    assert (fast.clean_error, fast.clean_loss) == pytest.approx((slow.clean_error, slow.clean_loss))
    assert float(fast.loss.max()) > fast.clean_loss  # eps 3 does hurt somewhere


def test_one_basis_per_pair_is_the_perturbation_applied():
    """For a linear model the loss change at k is the loss of x + eps * r * U_k, computed here by hand."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).double()
    x, y = data(n=6, lo=0.3, hi=0.7)
    hm = fourier_heatmap(model, x, y, eps=1.0, seed=2)
    pos = fourier.symmetric_positions(8, 8)
    signs = heatmap_signs(pos.shape[0], 6, 3, seed=2).double()
    for k in (0, 9, 20, pos.shape[0] - 1):
        u = fourier.fourier_basis(8, 8, pos[k : k + 1], dtype=torch.float64)[0]
        pert = x + signs[k][:, :, None, None] * u
        expected = nn.functional.cross_entropy(model(pert), y).detach()
        i, j = pos[k].tolist()
        assert float(hm.loss[i, j]) == pytest.approx(float(expected), rel=1e-12)
        assert float(hm.loss[(8 - i) % 8, (8 - j) % 8]) == pytest.approx(float(expected), rel=1e-12)


def test_batched_equals_pairwise_loop_for_any_batching():
    model = tiny_cnn()
    x, y = data(n=10)
    ref = loop_heatmap(model, x, y, eps=2.0, seed=3)
    for batch in (1, 7, 10, 33, 10_000):
        hm = fourier_heatmap(model, x, y, eps=2.0, seed=3, batch_size=batch)
        assert torch.equal(hm.error, ref.error)
        torch.testing.assert_close(hm.loss, ref.loss, rtol=1e-12, atol=1e-12)


def test_seeded_reproducibility():
    model = tiny_cnn()
    x, y = data()
    a = fourier_heatmap(model, x, y, eps=4.0, seed=7)
    b = fourier_heatmap(model, x, y, eps=4.0, seed=7)
    c = fourier_heatmap(model, x, y, eps=4.0, seed=8)
    assert torch.equal(a.loss, b.loss) and torch.equal(a.error, b.error)
    assert not torch.equal(a.loss, c.loss)


def test_signs_are_balanced_and_per_image_and_channel():
    s = heatmap_signs(514, 100, 3, seed=0)
    assert s.dtype == torch.int8 and set(s.unique().tolist()) == {-1, 1}
    assert abs(float(s.double().mean())) < 0.01
    assert not torch.equal(s[:, :, 0], s[:, :, 1])


def test_mirror_pairs_fills_every_bin_symmetrically():
    pos = fourier.symmetric_positions(6, 5)
    full = mirror_pairs(torch.arange(pos.shape[0], dtype=torch.float64), 6, 5)
    rows, cols = fourier.symmetric_index(6, torch.arange(6)), fourier.symmetric_index(5, torch.arange(5))
    assert torch.equal(full, full[rows][:, cols])
    assert set(full.flatten().long().tolist()) == set(range(pos.shape[0]))


def test_subsample_is_seeded_and_ordered():
    x, y = data(n=20)
    a, ay = subsample(x, y, 5, seed=1)
    b, _ = subsample(x, y, 5, seed=1)
    assert torch.equal(a, b) and a.shape[0] == 5 and ay.shape == (5,)
    assert subsample(x, y, None, seed=1)[0] is x


def test_model_mode_restored_and_bad_input_rejected():
    model = tiny_cnn().train()
    x, y = data(n=3)
    fourier_heatmap(model, x, y, eps=1.0)
    assert model.training
    with pytest.raises(FreqlensError):
        fourier_heatmap(model, x, y[:2], eps=1.0)
    with pytest.raises(FreqlensError):
        fourier_heatmap(model, x, y, eps=0.0)


@pytest.mark.slow
def test_compiled_forward_matches_eager():
    model = tiny_cnn().float()
    x, y = data(n=9)
    x = x.float()
    eager = fourier_heatmap(model, x, y, eps=2.0, seed=4, batch_size=64)
    compiled = fourier_heatmap(model, x, y, eps=2.0, seed=4, batch_size=64, compile=True)
    assert torch.equal(eager.error, compiled.error)
    torch.testing.assert_close(eager.loss, compiled.loss, rtol=1e-4, atol=1e-5)


def test_images_are_cast_to_the_model_dtype():
    model = tiny_cnn()  # float64
    x, y = data(n=4)
    a = fourier_heatmap(model, x.float(), y, eps=2.0)
    b = fourier_heatmap(model, x.float().double(), y, eps=2.0)
    assert torch.equal(a.error, b.error) and torch.equal(a.loss, b.loss)
