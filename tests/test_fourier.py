"""Spectral core: acceptance checks A1, A5, A6, A7 (papers.md §4.1), parity with the official HFC algorithm, and
property tests on odd and non-square sizes."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from freqlens import fourier
from freqlens.errors import FreqlensError


def official_hfc_split(images_nhwc: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """The HFC repository's per-image NumPy algorithm (after its 2020-04 mask fix), written out independently:
    a binary disk ``dist((i, j), (n/2, n/2)) < r`` built pixel by pixel, and per image and channel
    ``real(ifft2(ifftshift(fftshift(fft2(x)) * mask)))`` for the low part and ``... * (1 - mask)`` for the high."""
    n_img, rows, cols, channels = images_nhwc.shape
    mask = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            mask[i, j] = 1.0 if math.sqrt((i - rows / 2) ** 2 + (j - rows / 2) ** 2) < r else 0.0
    low = np.zeros(images_nhwc.shape)
    high = np.zeros(images_nhwc.shape)
    for k in range(n_img):
        for c in range(channels):
            spectrum = np.fft.fftshift(np.fft.fft2(images_nhwc[k, :, :, c]))
            low[k, :, :, c] = np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * mask)))
            high[k, :, :, c] = np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * (1 - mask))))
    return low, high


# --- A1: the LFC/HFC decomposition ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("radius", "strict", "inclusive"),
    [(4, 45, 49), (8, 193, 197), (12, 437, 441), (16, 793, 795), (20, 995, 999)],
)
def test_disk_sizes_at_32(radius, strict, inclusive):
    assert int(fourier.disk_mask(32, 32, radius).sum()) == strict
    assert int(fourier.disk_mask(32, 32, radius, inclusive=True).sum()) == inclusive


def test_disk_is_centred_on_dc():
    mask = fourier.disk_mask(32, 32, 1)
    assert mask.sum() == 1 and bool(mask[16, 16])


def test_split_is_exact_and_imaginary_part_is_negligible():
    x = torch.rand(8, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    low, high = fourier.split(x, [4, 8, 12, 16])
    assert (low + high - x).abs().max() < 1e-12
    # The discarded imaginary part of the complex inverse (the official route) is round-off only.
    for r in (4, 8, 12, 16):
        mask = torch.fft.ifftshift(fourier.disk_mask(32, 32, r))
        assert torch.fft.ifft2(torch.fft.fft2(x) * mask).imag.abs().max() < 1e-9


@pytest.mark.parametrize("radius", [23, 24, 28])
def test_radius_covering_the_spectrum_leaves_no_hfc(radius):
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    low, high = fourier.split(x, radius)
    assert torch.equal(high, torch.zeros_like(x)) and torch.equal(low, x)


def test_channels_are_filtered_independently():
    x = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    perm = torch.tensor([2, 0, 1])
    low, _ = fourier.split(x, 8)
    low_perm, _ = fourier.split(x[:, perm], 8)
    assert torch.allclose(low_perm, low[:, perm], atol=1e-13)


def test_chunks_filtered_in_threads_match_images_filtered_alone():
    """A batch of several chunks, filtered by two threads: a poisoned image moves no other (bit for bit), every image
    matches itself filtered alone within float32 rounding, and the caller's thread count is left as it was."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x = torch.rand(300, 3, 32, 32, generator=torch.Generator().manual_seed(3))
        low, high = fourier.split(x, [4, 8])
        bad = x.clone()
        bad[170, 1, 5, 5] = 1e30
        bad_low, bad_high = fourier.split(bad, [4, 8])
        others = torch.arange(300) != 170
        assert torch.equal(bad_low[:, others], low[:, others]) and torch.equal(bad_high[:, others], high[:, others])
        for i in (0, 41, 42, 299):
            alone_low, alone_high = fourier.split(x[i : i + 1], [4, 8])
            assert torch.allclose(alone_low[:, 0], low[:, i], rtol=0, atol=1e-6)
            assert torch.allclose(alone_high[:, 0], high[:, i], rtol=0, atol=1e-6)
        seen: list[int] = []
        thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert torch.get_num_threads() == 2 and seen == [2]
    finally:
        torch.set_num_threads(threads)


def test_finite_values_whose_sum_overflows_are_not_an_error():
    x = torch.rand(3, 3, 8, 8)
    x[1, 0, 0, :2] = 3e38  # the plane's sum (its DC bin) overflows to infinity: not a non-finite image
    low, high = fourier.split(x, 3)
    ref_low, ref_high = fourier.split(x[[0, 2]], 3)
    assert torch.equal(low[[0, 2]], ref_low) and torch.equal(high[[0, 2]], ref_high)


def test_gradient_flows_through_the_filter():
    """With autograd on, the split is differentiable and gives the same values; the filter is self-adjoint (a real
    symmetric gain), so the gradient of <low, v> is v filtered."""
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    v = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    low, high = fourier.split(x, 5)
    (grad,) = torch.autograd.grad((low * v).sum(), x)
    with torch.no_grad():
        ref_low, ref_high = fourier.split(x, 5)
    assert torch.allclose(low, ref_low, atol=1e-12) and torch.allclose(high, ref_high, atol=1e-12)
    assert torch.allclose(grad, fourier.lowpass(v, 5), atol=1e-12)


def test_parity_with_official_per_image_algorithm():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 32, 32, 3)).astype(np.float64)
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    radii = [4, 8, 12, 16]
    low, high = fourier.split(x, radii)
    for k, r in enumerate(radii):
        ref_low, ref_high = official_hfc_split(images, r)
        assert np.abs(low[k].permute(0, 2, 3, 1).numpy() - ref_low).max() < 1e-9
        assert np.abs(high[k].permute(0, 2, 3, 1).numpy() - ref_high).max() < 1e-9


def test_cifar_energy_fractions(cifar_dir):
    """A1: fraction of sum |Z|^2 kept by the LFC on 5,000 CIFAR-10 training images in 0-255 scale."""
    from freqlens.data import load_cifar

    with pytest.warns(UserWarning):
        x = load_cifar("cifar10", "train", cifar_dir).images[:5000].double() * 255
    low, _ = fourier.split(x, [4, 8, 12, 16])
    total = (x**2).sum()  # Parseval: sum |Z|^2 / HW == sum x^2
    fractions = [float((low[k] ** 2).sum() / total) for k in range(4)]
    assert fractions == pytest.approx([0.963, 0.988, 0.996, 0.9996], abs=0.003)


# --- A2: per-image max normalisation ---------------------------------------------------------------------------------


def test_per_image_max_normalisation_and_zero_guard():
    x = torch.rand(4, 3, 8, 8, dtype=torch.float64) - 0.3
    x[2] = 0
    y = fourier.normalize_per_image_max(x)
    assert torch.allclose(y.amax(dim=(1, 2, 3))[[0, 1, 3]], torch.ones(3, dtype=torch.float64))
    assert torch.equal(y[2], x[2]) and not torch.isnan(y).any()


# --- A6: Godfrey's high-pass square ----------------------------------------------------------------------------------


def test_godfrey_square_highpass_gains():
    gain = fourier.effective_gain(~fourier.square_mask(32, 32, 8))
    assert float((gain == 0).double().mean()) == pytest.approx(0.220, abs=5e-4)
    assert int((gain == 0.5).sum()) == 62
    assert set(gain.unique().tolist()) == {0.0, 0.5, 1.0}


def test_godfrey_square_matches_his_complex_route():
    """PassFilter: fftshift(fft2(x, ortho)), zero the slice, real(ifft2(ifftshift(...)))."""
    x = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    spec = torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1))
    spec[..., 16 - 8 : 16 + 8, 16 - 8 : 16 + 8] = 0
    reference = torch.fft.ifft2(torch.fft.ifftshift(spec, dim=(-2, -1)), norm="ortho").real
    assert torch.allclose(fourier.square_highpass(x, 8), reference, atol=1e-12)


def test_symmetric_square_zeroes_only_a_self_symmetric_square():
    mask = fourier.square_mask(32, 32, 8, symmetric=True)
    gain = fourier.effective_gain(~mask)
    assert int(mask.sum()) == 15 * 15
    assert set(gain.unique().tolist()) == {0.0, 1.0}


# --- A5: the Fourier basis of Yin et al. ----------------------------------------------------------------------------


def yin_definition(h: int, w: int, i: int, j: int) -> np.ndarray:
    """sqrt(HW) * real(ifft2(ifftshift(F))), F = 0.5+0.5i at the pair's first member in row-major order, 0.5-0.5i at
    the other (1 if the bin is its own mirror)."""
    spectrum = np.zeros((h, w), dtype=complex)
    mi, mj = (2 * (h // 2) - i) % h, (2 * (w // 2) - j) % w
    if mi * w + mj < i * w + j:
        i, j, mi, mj = mi, mj, i, j
    if (mi, mj) == (i, j):
        spectrum[i, j] = 1.0
    else:
        spectrum[i, j] = 0.5 + 0.5j
        spectrum[mi, mj] = 0.5 - 0.5j
    return np.sqrt(h * w) * np.real(np.fft.ifft2(np.fft.ifftshift(spectrum)))


@pytest.mark.parametrize(("h", "w"), [(32, 32), (9, 14), (7, 7)])
def test_fourier_basis_matches_definition_and_is_unit_norm(h, w):
    positions = fourier.symmetric_positions(h, w)
    basis = fourier.fourier_basis(h, w, positions, dtype=torch.float64)
    for (i, j), u in zip(positions.tolist(), basis, strict=True):
        assert np.abs(u.numpy() - yin_definition(h, w, i, j)).max() < 1e-12
    norms = basis.flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-6)


def test_fourier_basis_support_and_symmetry():
    h = w = 32
    positions = fourier.symmetric_positions(h, w)
    assert len(positions) == (h * w - 4) // 2 + 4
    basis = fourier.fourier_basis(h, w, positions, dtype=torch.float64)
    spectra = torch.fft.fftshift(torch.fft.fft2(basis), dim=(-2, -1)).abs() > 1e-9
    for (i, j), support in zip(positions.tolist(), spectra, strict=True):
        mirror = ((2 * (h // 2) - i) % h, (2 * (w // 2) - j) % w)
        assert set(map(tuple, support.nonzero().tolist())) == {(i, j), mirror}
    # mirrored positions produce the identical image
    mirrored = torch.stack([(2 * (h // 2) - positions[:, 0]) % h, (2 * (w // 2) - positions[:, 1]) % w], dim=1)
    assert torch.allclose(fourier.fourier_basis(h, w, mirrored, dtype=torch.float64), basis, atol=1e-12)


# --- A7: radially averaged power spectrum of CIFAR-10 -----------------------------------------------------------------


def test_cifar_raps_slope_and_low_frequency_power(cifar_dir):
    from freqlens.data import load_cifar

    with pytest.warns(UserWarning):
        x = load_cifar("cifar10", "train", cifar_dir).images[:5000].double()
    power = fourier.power_map(x).mean(dim=0)
    profile, _ = fourier.radial_profile(power)
    assert bool((profile.diff() < 0).all())
    slope, _ = fourier.loglog_slope(profile, 2, 14)
    assert slope == pytest.approx(-2.91, abs=0.2)
    distance = fourier.radial_distance(32, 32)
    non_dc = distance > 0
    fraction = float(power[non_dc & (distance <= 8)].sum() / power[non_dc].sum())
    assert fraction == pytest.approx(0.929, abs=0.02)


# --- radial profiles, slopes, power --------------------------------------------------------------------------------


def test_radial_profile_of_a_radial_function_is_exact():
    distance = fourier.radial_distance(15, 20)
    values = distance.round() ** 2
    profile, counts = fourier.radial_profile(values)
    assert torch.allclose(profile, torch.arange(len(profile), dtype=torch.float64) ** 2)
    assert int(counts.sum()) == 15 * 20 and int(counts[0]) == 1


def test_radial_profile_batches_leading_dimensions():
    maps = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    profile, _ = fourier.radial_profile(maps)
    single, _ = fourier.radial_profile(maps[1, 2])
    assert profile.shape[:2] == (2, 3) and torch.allclose(profile[1, 2], single)


def test_power_map_satisfies_parseval():
    x = torch.rand(5, 2, 12, 9, dtype=torch.float64)
    assert torch.allclose(fourier.power_map(x).sum(), (x**2).sum() / 5)


def test_rms_amplitude_map_matches_godfrey_empirical_power():
    x = torch.rand(20, 3, 8, 8, dtype=torch.float64)
    mean, std = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
    z = (x - mean[:, None, None]) / std[:, None, None]
    reference = torch.fft.fft2(z, norm="ortho").abs().pow(2).mean(dim=0).sqrt()
    assert torch.allclose(fourier.rms_amplitude_map(x), torch.fft.fftshift(reference, dim=(-2, -1)))


def test_loglog_slope_rejects_bad_ranges():
    with pytest.raises(FreqlensError):
        fourier.loglog_slope(torch.ones(5), 3, 3)
    with pytest.raises(FreqlensError):
        fourier.loglog_slope(torch.zeros(5), 1, 4)


# --- property tests: any size, any channel count, dtypes -----------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 4),
    h=st.integers(2, 19),
    w=st.integers(2, 19),
    frac=st.floats(0.05, 1.0),
    inclusive=st.booleans(),
)
def test_split_round_trip_and_real_part_equivalence(n, c, h, w, frac, inclusive):
    x = torch.rand(n, c, h, w, dtype=torch.float64)
    radius = max(frac * fourier.max_radius(h, w), 0.5)
    low, high = fourier.split(x, radius, inclusive)
    assert low.shape == x.shape and torch.allclose(low + high, x, atol=1e-12)
    mask = fourier.disk_mask(h, w, radius, inclusive)
    reference = torch.fft.ifft2(torch.fft.fft2(x) * torch.fft.ifftshift(mask)).real
    assert torch.allclose(low, reference, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 17), w=st.integers(1, 17))
def test_effective_gain_is_symmetric_and_masks_are_centred(h, w):
    mask = torch.rand(h, w) > 0.5
    gain = fourier.effective_gain(mask)
    rows = fourier.symmetric_index(h, torch.arange(h))
    cols = fourier.symmetric_index(w, torch.arange(w))
    assert torch.equal(gain, gain[rows][:, cols])
    assert bool(fourier.disk_mask(h, w, 0.5)[h // 2, w // 2]) and int(fourier.disk_mask(h, w, 0.5).sum()) == 1


@settings(max_examples=20, deadline=None)
@given(h=st.integers(2, 12), w=st.integers(2, 12), seed=st.integers(0, 1000))
def test_lowpass_is_idempotent(h, w, seed):
    x = torch.rand(2, 1, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    radius = fourier.max_radius(h, w) / 2 + 0.1
    once = fourier.lowpass(x, radius)
    assert torch.allclose(fourier.lowpass(once, radius), once, atol=1e-12)


def test_split_spanning_many_chunks_with_an_odd_plane_count():
    # 1029 planes of 32x32: two full CPU chunks of 512 and an odd remainder of 5 (filtered with a zero partner).
    x = torch.rand(343, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    radii = [4, 30, 8]  # 30 keeps every bin: exact identity, computed apart from the others
    low, high = fourier.split(x, radii)
    for k, r in enumerate(radii):
        mask = torch.fft.ifftshift(fourier.disk_mask(32, 32, r))
        reference = torch.fft.ifft2(torch.fft.fft2(x) * mask).real
        assert (low[k] - reference).abs().max() < 1e-12 and torch.equal(high[k], x - low[k])
    assert torch.equal(low[1], x) and not high[1].any()


def test_split_passes_gradients():
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    low, high = fourier.split(x, 2)
    (low * 2 + high).sum().backward()
    # d/dx of sum(2 LFC + HFC) = 1 + LFC-filter applied to ones = 1 + 1 (a constant image is pure DC)
    assert x.grad is not None and torch.allclose(x.grad, torch.full_like(x, 2.0))


def test_float32_split_is_accurate():
    x = torch.rand(4, 3, 32, 32)
    low, high = fourier.split(x, 8)
    assert low.dtype == torch.float32 and (low + high - x).abs().max() < 1e-6
    reference, _ = fourier.split(x.double(), 8)
    assert (low.double() - reference).abs().max() < 1e-5


# --- bad input -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "radius", "message"),
    [
        (torch.rand(3, 32, 32), 8, "shape"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 2, "float"),
        (torch.rand(0, 3, 8, 8), 2, "empty"),
        (torch.rand(1, 3, 8, 8), 0, "positive"),
        (torch.rand(1, 3, 8, 8), -1, "positive"),
        (torch.rand(1, 3, 8, 8), 9, "beyond"),
        (torch.rand(1, 3, 8, 8), float("nan"), "positive"),
    ],
)
def test_bad_input_gives_clear_errors(x, radius, message):
    with pytest.raises(FreqlensError, match=message):
        fourier.split(x, radius)


def test_square_cutoff_out_of_range():
    with pytest.raises(FreqlensError, match="cutoff"):
        fourier.square_mask(32, 32, 17)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_filtered_in_float32_and_returned_as_given(dtype: torch.dtype) -> None:
    x = torch.rand(3, 3, 16, 16)
    low, high = fourier.split(x.to(dtype), [4, 6])
    ref_low, ref_high = fourier.split(x.to(dtype).float(), [4, 6])
    assert low.dtype == high.dtype == dtype
    assert torch.equal(low, ref_low.to(dtype)) and torch.equal(high, ref_high.to(dtype))
    assert fourier.square_highpass(x.to(dtype), 2).dtype == dtype
    assert torch.allclose(fourier.power_map(x.to(dtype)), fourier.power_map(x.to(dtype).float()))


@pytest.mark.parametrize("radius", ["12", b"12", None, [4, "x"]])
def test_a_radius_that_is_not_a_number_is_an_error(radius: object) -> None:
    with pytest.raises(FreqlensError, match="radi"):
        fourier.split(torch.rand(1, 3, 32, 32), radius)  # type: ignore[arg-type]


def test_numpy_radii_are_numbers() -> None:
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(fourier.lowpass(x, np.float64(5)), fourier.lowpass(x, 5.0))


@pytest.mark.parametrize(("shape", "radii"), [((32, 32), [4, 8, 12, 16]), ((33, 20), [2, 5, 9.5])])
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_separable_layout_matches_the_fft_layout(monkeypatch, shape, radii, dtype, tol) -> None:
    """Disks within frequency 15 are filtered in the real cos/sin basis of each axis; the FFT layout, forced by
    lowering the limit, gives the same LFC and HFC (images in [0, 1])."""
    x = torch.rand(40, 3, *shape, generator=torch.Generator().manual_seed(5)).to(dtype)
    gains = torch.fft.ifftshift(fourier.effective_gain(torch.stack([fourier.disk_mask(*shape, r) for r in radii])))
    assert fourier._separable(gains, dtype) is not None
    low, high = fourier.split(x, radii)
    monkeypatch.setattr(fourier, "_SEPARABLE_MAX", -1)
    assert fourier._separable(gains, dtype) is None
    ref_low, ref_high = fourier.split(x, radii)
    assert (low - ref_low).abs().max() <= tol and (high - ref_high).abs().max() <= tol


def test_gain_not_even_along_each_axis_takes_the_fft_layout() -> None:
    """A pair of bins at (2, 3) and (-2, -3) is symmetric but not even along each axis: it is filtered by FFT, exactly
    the real part of the complex inverse transform."""
    gain = torch.zeros(16, 16, dtype=torch.float64)
    gain[8 + 2, 8 + 3] = gain[8 - 2, 8 - 3] = 1
    assert fourier._separable(torch.fft.ifftshift(gain)[None], torch.float64) is None
    x = torch.rand(3, 2, 16, 16, dtype=torch.float64)
    reference = torch.fft.ifft2(torch.fft.fft2(x) * torch.fft.ifftshift(gain)).real
    assert (fourier.apply_gain(x, gain) - reference).abs().max() < 1e-12
