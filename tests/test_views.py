import pytest
import torch

from freqlens import fourier
from freqlens.errors import FreqlensError
from freqlens.views import View, apply_in_chunks, parse_view


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


SPECS = ["original", "lfc:8", "hfc:8", "lfc:8:max", "hfc:12:max", "lfc:4.5:incl", "lfc:6:incl:max", "band:2:6"]
SPECS += ["hpsquare:8", "hpsquare:4:sym"]


@pytest.mark.parametrize("spec", SPECS)
def test_canonical_string_is_todays_spec_and_round_trips(spec):
    view = View.parse(spec)
    assert str(view) == spec == view.name  # configs hash on these strings: they must not change
    assert View.parse(str(view)) == view
    assert View.parse(view) is view


def test_fields_are_parsed_once():
    v = View.parse("LFC:8:max:incl")
    assert (v.kind, v.radius, v.normalisation, v.inclusive) == ("lfc", 8.0, "per_image_max", True)
    assert str(v) == "lfc:8:incl:max"
    b = View.parse("band:2:6")
    assert (b.kind, b.inner, b.outer, b.is_linear) == ("band", 2.0, 6.0, True)
    assert not View.parse("hfc:8:max").is_linear


@pytest.mark.parametrize(
    "spec", ["original", "lfc:5", "hfc:5", "lfc:5:incl", "band:2:6", "hpsquare:4", "hpsquare:4:sym"]
)
def test_gain_is_the_filter_the_view_applies(spec):
    x = torch.rand(3, 2, 16, 12, dtype=torch.float64)
    view = View.parse(spec)
    gain = view.gain(16, 12)
    assert gain.shape == (16, 12) and gain.dtype == torch.float64
    assert torch.allclose(fourier.apply_gain(x, gain), view(x), atol=1e-12)


def test_gains_of_complementary_views_add_to_one():
    assert torch.equal(View.parse("lfc:5").gain(9, 9) + View.parse("hfc:5").gain(9, 9), torch.ones(9, 9).double())
    assert float(View.parse("lfc:2").gain(9, 9).sum()) == 9  # |k| < 2: DC, 4 axis neighbours and 4 diagonals


@pytest.mark.parametrize("spec", ["lfc:4:max:max", "band:6:2", "hpsquare:2.5", "hpsquare:0"])
def test_inconsistent_views_are_rejected(spec):
    with pytest.raises(FreqlensError):
        View.parse(spec)


def test_original_max_is_the_hfc_codes_contrast_stretch():
    """Quirk (a): uint8(x / max(x) * 255) / 255 per image (max over channels and pixels)."""
    x = torch.tensor([0, 51, 102, 100], dtype=torch.float32).view(1, 1, 2, 2) / 255
    view = View.parse("original:max")
    assert str(view) == "original:max" and not view.is_linear
    # 51 / 102 * 255 = 127.5 -> 127 (truncated, as the cast to uint8), 100 / 102 * 255 = 250
    assert torch.allclose(view(x).flatten() * 255, torch.tensor([0.0, 127, 255, 250]), atol=1e-4)
