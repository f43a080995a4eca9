"""The HFC evaluation on tiny analytic models whose predictions on every view can be worked out by hand."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from freqlens import fourier
from freqlens.analyses.hfc import (
    HFCExample,
    default_example_radius,
    evaluate_hfc,
    plot_accuracy_vs_radius,
    plot_examples,
)
from freqlens.data import ImageSet
from freqlens.errors import FreqlensError
from freqlens.views import parse_view

# Planted patterns: integer frequencies (ky, kx) and their radius |k|.
FREQS = [(0, 5), (3, 4), (6, 0), (4, 6)]
RHO = [math.hypot(*k) for k in FREQS]  # 5, 5, 6, 7.21
TAU = 0.5  # background-class score; planted amplitudes are 0, 1, 2 or 3
SCALE = 3.0  # logits = SCALE * scores
SWEEP = [2.0, 4.5, 5.0, 5.5, 6.0, 6.5, 8.0]


def wave(c: int, h: int, w: int, ky: int, kx: int, phase: float = 0.0) -> Tensor:
    y = torch.arange(h, dtype=torch.float64).view(h, 1)
    x = torch.arange(w, dtype=torch.float64).view(1, w)
    return torch.cos(2 * math.pi * (ky * y / h + kx * x / w) + phase).expand(c, h, w)


class PatternReader(nn.Module):
    """Reads a filtered image through unit-norm planted patterns: logit_k = SCALE <keep(x), P_k>, plus a background
    class whose logit is SCALE * TAU. Built by hand, never trained."""

    def __init__(self, patterns: Tensor, keep: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.register_buffer("patterns", patterns)
        self.keep = keep

    def forward(self, x: Tensor) -> Tensor:
        scores = torch.einsum("nchw,kchw->nk", self.keep(x), self.patterns)
        background = torch.full_like(scores[:, :1], TAU)
        return SCALE * torch.cat([scores, background], dim=1)


def planted_problem(c: int, h: int, w: int, n: int = 60, seed: int = 0) -> tuple[ImageSet, Tensor, Tensor]:
    """Images = smooth low-frequency background + u * sum_k a_k P_k with unit-norm P_k (pixel amplitude 0.05 * a_k).

    Returns the data, the amplitudes (N, K) and the read-out weights P_k / u, so that <x, P_k / u> = a_k.
    """
    g = torch.Generator().manual_seed(seed)
    patterns = torch.stack([wave(c, h, w, *k) for k in FREQS])
    patterns = patterns / patterns.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    u = 0.05 / float(patterns.abs().max())
    amps = torch.stack([torch.randperm(4, generator=g) for _ in range(n)]).double()
    amps[torch.rand(n, 4, generator=g) < 0.35] = 0
    low_freqs = [(0, 1), (1, 0), (1, 1), (2, -1)]  # all |k| < 3
    base = torch.full((n, c, h, w), 0.5, dtype=torch.float64)
    for ky, kx in low_freqs:
        coef = 0.03 * torch.rand(n, 1, 1, 1, generator=g, dtype=torch.float64)
        phase = float(torch.rand(1, generator=g)) * 2 * math.pi
        base = base + coef * wave(c, h, w, ky, kx, phase)
    images = base + u * torch.einsum("nk,kchw->nchw", amps, patterns)
    assert float(images.min()) >= 0 and float(images.max()) <= 1
    truth = expected_pred(amps, [True] * 4)
    labels = truth.clone()
    flip = torch.rand(n, generator=g) < 0.2
    labels[flip] = (truth[flip] + 1 + torch.randint(0, 4, (int(flip.sum()),), generator=g)) % 5
    return ImageSet.from_tensors(images, labels, ("p0", "p1", "p2", "p3", "bg"), name="planted"), amps, patterns / u


def expected_pred(amps: Tensor, visible: list[bool]) -> Tensor:
    """Argmax over the planted amplitudes the model still sees; the background class (4) if none exceeds TAU."""
    seen = amps * torch.tensor(visible, dtype=amps.dtype)
    best, index = seen.max(dim=1)
    return torch.where(best > TAU, index, torch.full_like(index, 4))


def expected_conf(amps: Tensor, visible: list[bool]) -> Tensor:
    seen = amps * torch.tensor(visible, dtype=amps.dtype)
    logits = SCALE * torch.cat([seen, torch.full_like(seen[:, :1], TAU)], dim=1)
    return logits.softmax(dim=1).max(dim=1).values


def in_disk(rho: float, r: float, inclusive: bool) -> bool:
    return rho <= r if inclusive else rho < r


@pytest.mark.parametrize(
    ("shape", "inclusive"), [((3, 16, 16), False), ((3, 16, 16), True), ((1, 15, 18), False), ((2, 17, 13), True)]
)
def test_high_frequency_model_finds_exactly_the_planted_hfc_images(shape, inclusive):
    c, h, w = shape
    data, amps, patterns = planted_problem(c, h, w)
    model = PatternReader(patterns, lambda x: fourier.highpass(x, 4.5))  # sees only |k| >= 4.5
    result = evaluate_hfc(model, data, SWEEP, inclusive=inclusive, normalize="none", batch_size=17, progress=False)

    assert torch.equal(result.pred_original, expected_pred(amps, [True] * 4))
    assert result.blank_pred == 4  # an all-zero image shows no pattern: background
    assert result.blank_conf == pytest.approx(float(expected_conf(amps[:1] * 0, [True] * 4)[0]))
    assert torch.allclose(result.conf_original.double(), expected_conf(amps, [True] * 4), atol=1e-6)
    nontrivial = 0
    for i, r in enumerate(SWEEP):
        low_vis = [in_disk(rho, r, inclusive) for rho in RHO]
        high_vis = [not v for v in low_vis]
        pred_low, pred_high = expected_pred(amps, low_vis), expected_pred(amps, high_vis)
        assert torch.equal(result.pred_low[i], pred_low), r
        assert torch.equal(result.pred_high[i], pred_high), r
        assert torch.allclose(result.conf_low[i].double(), expected_conf(amps, low_vis), atol=1e-6)
        assert torch.allclose(result.conf_high[i].double(), expected_conf(amps, high_vis), atol=1e-6)
        y = data.labels
        # the HFC holds something when the background's (2, -1) wave or a planted pattern with amplitude lies outside
        # the disk; otherwise it is round-off only, and left out (the LFC always holds the background)
        measured = (amps * torch.tensor(high_vis, dtype=amps.dtype)).sum(dim=1) > 0
        measured |= not in_disk(math.hypot(2, 1), r, inclusive)
        assert torch.equal(result.measured("hfc")[i], measured) and bool(result.measured("lfc")[i].all())
        want = (result.pred_original == y) & (pred_high == y) & (pred_low != y) & measured
        found = result.hfc_explained(r)
        assert sorted(e.index for e in found) == torch.nonzero(want).flatten().tolist()
        assert int(result.hfc_explained_counts()[i]) == int(want.sum())
        assert result.hfc_explained_per_class()[i].tolist() == torch.bincount(y[want], minlength=5).tolist()
        assert float(result.accuracy("lfc")[i]) == pytest.approx(float((pred_low == y).double().mean()))
        hfc_accuracy = float(((pred_high == y) & measured).sum() / measured.sum())
        assert float(result.accuracy("hfc")[i]) == pytest.approx(hfc_accuracy, nan_ok=True)  # r = 8: all empty
        keys = [(-e.conf_high, -e.conf_original, e.index) for e in found]
        assert keys == sorted(keys)
        for e in found:
            assert e.pred_original == e.label == e.pred_high != e.pred_low
        nontrivial += len(found) > 0
    assert nontrivial >= 3  # the planted problem really exercises the definition
    # Strict vs inclusive differ exactly at r = 5, where two patterns sit on the circle.
    at5 = result.radius_index(5)
    assert bool((result.pred_low[at5] == expected_pred(amps, [inclusive, inclusive, False, False])).all())


def test_low_pass_model_has_no_hfc_explained_images_above_its_cutoff():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(64, 3, 16, 16, generator=g, dtype=torch.float64)
    weights = torch.randn(10, 3, 16, 16, generator=g, dtype=torch.float64)
    model = PatternReader(weights, lambda v: fourier.lowpass(v, 5.0))
    data = ImageSet.from_tensors(x, torch.randint(0, 11, (64,), generator=g))
    result = evaluate_hfc(model, data, [2, 3, 5, 6, 8, 16], normalize="none", batch_size=10, progress=False)
    assert float(result.accuracy("original")) > 0  # some images are right, so "none" is not trivial
    for r in (5, 6, 8, 16):  # the LFC keeps everything the model sees
        i = result.radius_index(r)
        assert torch.equal(result.pred_low[i], result.pred_original)
        assert torch.allclose(result.conf_low[i], result.conf_original, atol=1e-6)
        assert result.hfc_explained(r) == []
    # and a high-pass model is blind to its LFC below its own cutoff: x_h gives the same prediction as x
    hp = PatternReader(weights, lambda v: fourier.highpass(v, 6.0))
    result = evaluate_hfc(hp, data, [2, 4, 6, 8], normalize="none", progress=False)
    for r in (2, 4, 6):
        assert torch.equal(result.pred_high[result.radius_index(r)], result.pred_original)


def small_cnn(c: int, classes: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(c, 8, 3, padding=1),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(8 * 16, classes),
    ).double()


@pytest.mark.parametrize(("inclusive", "normalize"), [(False, "none"), (True, "per_image_max")])
def test_accuracy_and_confidence_match_a_direct_per_image_loop(inclusive, normalize):
    g = torch.Generator().manual_seed(2)
    data = ImageSet.from_tensors(torch.rand(23, 3, 12, 10, generator=g), torch.randint(0, 4, (23,), generator=g))
    model = small_cnn(3, 4)
    radii = [1.5, 3.0, 4.0, 7.0]
    result = evaluate_hfc(model, data, radii, inclusive=inclusive, normalize=normalize, batch_size=7, progress=False)
    model.eval()

    def direct(view: str) -> tuple[float, float]:
        v = parse_view(view)
        hits, conf = 0, 0.0
        for i in range(len(data)):
            p = model(v(data.images[i : i + 1].double())).softmax(1)[0]
            hits += int(p.argmax()) == int(data.labels[i])
            conf += float(p.max())
        return hits / len(data), conf / len(data)

    suffix = (":incl" if inclusive else "") + (":max" if normalize == "per_image_max" else "")
    with torch.no_grad():
        acc, conf = direct("original")
        assert float(result.accuracy("original")) == pytest.approx(acc)
        assert float(result.confidence("original")) == pytest.approx(conf, abs=1e-6)
        for i, r in enumerate(radii):
            for kind in ("lfc", "hfc"):
                acc, conf = direct(f"{kind}:{r}{suffix}")
                assert float(result.accuracy(kind)[i]) == pytest.approx(acc)
                assert float(result.confidence(kind)[i]) == pytest.approx(conf, abs=1e-6)
    counts = result.class_counts()
    per_class = result.per_class_accuracy("hfc")
    assert per_class.shape == (4, 4)
    weighted = (torch.nan_to_num(per_class) * counts).sum(dim=1) / counts.sum()
    assert torch.allclose(weighted, result.accuracy("hfc"))


@pytest.mark.parametrize("normalize", ["none", "per_image_max"])
def test_a_radius_covering_the_whole_spectrum_gives_x_and_an_exactly_zero_hfc(normalize):
    g = torch.Generator().manual_seed(4)
    data = ImageSet.from_tensors(torch.rand(10, 3, 12, 10, generator=g), torch.randint(0, 4, (10,), generator=g))
    model = small_cnn(3, 4)
    result = evaluate_hfc(model, data, [7.0, 7.9, 12.0], normalize=normalize, batch_size=4, progress=False)
    x = data.images.double()
    with torch.no_grad():
        zero = model.eval()(torch.zeros(1, 3, 12, 10, dtype=torch.float64)).softmax(1)
        seen = model(x if normalize == "none" else fourier.normalize_per_image_max(x)).softmax(1).max(1)
    for r in (7.9, 12.0):  # every bin of a 12x10 spectrum is within hypot(6, 5) = 7.81 of DC
        i = result.radius_index(r)
        assert torch.equal(result.pred_low[i], seen.indices)
        assert torch.allclose(result.conf_low[i], seen.values.float())
        assert bool((result.pred_high[i] == int(zero.argmax())).all())
        assert torch.allclose(result.conf_high[i], zero.max().float().expand(10))


def test_eval_mode_is_used_and_every_module_mode_is_restored():
    data = ImageSet.from_tensors(torch.rand(9, 3, 8, 8), torch.randint(0, 3, (9,)))
    model = small_cnn(3, 3)
    model.train()
    model[0].eval()  # a mixed state must come back exactly
    before = [m.training for m in model.modules()]
    first = evaluate_hfc(model, data, [2, 4], progress=False)
    second = evaluate_hfc(model, data, [2, 4], progress=False)
    assert [m.training for m in model.modules()] == before
    assert torch.equal(first.conf_high, second.conf_high)  # dropout was off
    assert all(p.grad is None for p in model.parameters())


def test_one_channel_odd_images_float32_and_figures():
    g = torch.Generator().manual_seed(3)
    data = ImageSet.from_tensors(torch.rand(12, 1, 15, 21, generator=g), torch.arange(12) % 3, ("a", "b", "c"))
    model = small_cnn(1, 3).float()
    result = evaluate_hfc(model, data, [3, 7, 15], progress=False)
    assert result.dtype == "float32" and result.device == "cpu"
    assert default_example_radius(result.radii, 15, 21) == 7
    assert plot_accuracy_vs_radius(result).axes[0].get_xlabel().startswith("radius")
    # a high-pass reader of planted patterns: images whose largest pattern lies outside the disk are HFC-explained
    planted, _, patterns = planted_problem(1, 15, 21)
    reader = PatternReader(patterns, lambda v: fourier.highpass(v, 4.5))
    hits = evaluate_hfc(reader, planted, [5.5], normalize="none", progress=False)
    found = hits.hfc_explained(5.5)
    assert len(found) >= 2
    fig = plot_examples(hits, planted, 5.5, k=2)
    assert fig is not None and len(fig.axes) == 6
    rows = [[ax.get_xlabel() for ax in fig.axes[3 * i : 3 * i + 3]] for i in range(2)]
    for row, e in zip(rows, found[:2], strict=True):  # the two best-ranked images, with their own predictions
        assert row == [
            f"{hits.class_name(e.pred_original)} {e.conf_original:.2f}",
            f"{hits.class_name(e.pred_low)} {e.conf_low:.2f}",
            f"{hits.class_name(e.pred_high)} {e.conf_high:.2f}",
        ]
        assert e.pred_high == e.label != e.pred_low
    assert fig.axes[0].get_ylabel() == f"#{found[0].index}\ntrue: {hits.class_name(found[0].label)}"
    none_model = PatternReader(torch.zeros(2, 1, 15, 21), lambda v: v)  # always background: never HFC-explained
    empty = evaluate_hfc(none_model, data, [3], progress=False)
    assert plot_examples(empty, data, 3) is None


def test_to_dict_holds_summaries_and_compact_ranked_lists():
    data, _, patterns = planted_problem(3, 16, 16, n=30)
    result = evaluate_hfc(PatternReader(patterns, lambda x: x), data, [5.5, 6.5], progress=False)
    d = result.to_dict()
    assert d["mask"] == "|k| < r" and d["images"] == 30 and d["radii"] == [5.5, 6.5]
    block = d["hfc_explained"]["by_radius"]["6.5"]
    assert block["count"] == len(block["images"]) == len(result.hfc_explained(6.5))
    assert block["count_outside_blank_class"] == sum(e.label != 4 for e in result.hfc_explained(6.5))
    assert d["blank_image"]["pred"] == 4
    assert [HFCExample(*row) for row in block["images"]] == result.hfc_explained(6.5)
    assert d["lfc"]["accuracy"] == result.accuracy("lfc").tolist()


@pytest.mark.parametrize(
    ("radii", "message"),
    [([], "empty"), ([0], "positive"), ([-2], "positive"), ([17], "beyond"), ([4, 4], "duplicates")],
)
def test_radii_that_do_not_fit_are_rejected(radii, message):
    data = ImageSet.from_tensors(torch.rand(2, 3, 16, 16), torch.tensor([0, 1]))
    with pytest.raises(FreqlensError, match=message):
        evaluate_hfc(small_cnn(3, 2), data, radii, progress=False)


def test_bad_options_and_models_are_rejected():
    data = ImageSet.from_tensors(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(FreqlensError, match="normalisation"):
        evaluate_hfc(small_cnn(3, 4), data, [2], normalize="max", progress=False)
    with pytest.raises(FreqlensError, match="batch size"):
        evaluate_hfc(small_cnn(3, 4), data, [2], batch_size=0, progress=False)
    with pytest.raises(FreqlensError, match="3 logits but tensors has 4 classes"):
        evaluate_hfc(small_cnn(3, 3), data, [2], progress=False)
    with pytest.raises(FreqlensError, match="logits"):
        evaluate_hfc(nn.Flatten(0), data, [2], progress=False)
    result = evaluate_hfc(small_cnn(3, 4), data, [2], progress=False)
    with pytest.raises(FreqlensError, match="not in the sweep"):
        result.hfc_explained(3)
    with pytest.raises(FreqlensError, match="same"):
        plot_examples(result, data.subset(2), 2)


class BlankOrDim(nn.Module):
    """Class 0 for a zero-mean image (every HFC, and the all-zero one) or an image whose maximum is below 0.95 (the
    originals here); class 1 for a contrast-stretched one (every per-image-max LFC)."""

    def forward(self, x: Tensor) -> Tensor:
        flat = x.flatten(1)
        zero = (flat.mean(dim=1).abs() < 0.1) | (flat.amax(dim=1) < 0.95)
        return 5.0 * torch.stack([zero, ~zero], dim=1).float()


def test_empty_hfc_views_are_left_out_of_accuracies_and_hfc_explained_counts():
    """At a radius whose disk holds every bin the HFC is all zeros: a model that answers the right class for a blank
    image would make every image 'HFC-explained' there (the 55 deer of CIFAR-10 at r = 24, 28). Those views measure
    nothing: they are excluded, and counted as such; at a radius with a real HFC the same answers do count."""
    g = torch.Generator().manual_seed(5)
    data = ImageSet.from_tensors(0.9 * torch.rand(12, 3, 12, 10, generator=g), torch.zeros(12, dtype=torch.long))
    result = evaluate_hfc(BlankOrDim(), data, [2.0, 7.9, 12.0], batch_size=5, progress=False)
    assert result.excluded("hfc").tolist() == [0, 12, 12] and result.excluded("lfc").tolist() == [0, 0, 0]
    assert result.hfc_explained_counts().tolist() == [12, 0, 0]
    assert result.accuracy("hfc")[0] == 1.0 and bool(result.accuracy("hfc")[1:].isnan().all())
    assert result.accuracy("lfc").tolist() == [0.0, 0.0, 0.0]
    d = result.to_dict()
    assert d["hfc"]["accuracy"] == [1.0, None, None] and d["hfc"]["excluded"] == [0, 12, 12]
    assert d["per_class"]["hfc"][1][0] is None and "below numerical noise" in d["excluded_definition"]
    assert [d["hfc_explained"]["by_radius"][r]["count"] for r in ("2", "7.9", "12")] == [12, 0, 0]
    from freqlens.analyses.hfc import hfc_analysis

    metrics = hfc_analysis(BlankOrDim(), data.images, data.labels, radii=[2.0, 12.0], examples=0).metrics
    assert metrics["accuracy_hfc_r12"] is None and metrics["hfc_explained_r12"] is None
    assert metrics["hfc_explained_r2"].value == 1.0 and metrics["accuracy_lfc_r12"].n == 12
