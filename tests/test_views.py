import pytest
import torch

from freqlens import fourier
from freqlens.errors import FreqlensError
from freqlens.views import apply_in_chunks, parse_view


def test_lfc_and_hfc_views_sum_to_the_image():
    x = torch.rand(3, 3, 16, 16, dtype=torch.float64)
    assert torch.allclose(parse_view("lfc:4")(x) + parse_view("hfc:4")(x), x, atol=1e-12)


def test_hpsquare_matches_fourier_square_highpass():
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    assert torch.equal(parse_view("hpsquare:8")(x), fourier.square_highpass(x, 8))


def test_chunked_application_equals_whole():
    x = torch.rand(10, 1, 8, 8, dtype=torch.float64)
    v = parse_view("band:1:3")
    assert torch.allclose(apply_in_chunks(v, x, chunk=3), v(x), atol=1e-12)


@pytest.mark.parametrize("spec", ["lfc", "lfc:x", "hfc:4:foo", "blur:3", "lfc:-2"])
def test_bad_view_names_are_rejected(spec):
    with pytest.raises(FreqlensError):
        parse_view(spec)


def test_original_max_is_the_hfc_codes_contrast_stretch():
    """Quirk (a): uint8(x / max(x) * 255) / 255 per image (max over channels and pixels)."""
    x = torch.tensor([0, 51, 102, 100], dtype=torch.float32).view(1, 1, 2, 2) / 255
    y = parse_view("original:max")(x)
    # 51 / 102 * 255 = 127.5 -> 127 (truncated, as the cast to uint8), 100 / 102 * 255 = 250.0000 -> 250
    assert torch.allclose(y.flatten() * 255, torch.tensor([0.0, 127, 255, 250]), atol=1e-4)
