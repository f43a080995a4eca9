"""The analysis contract's building blocks, and the verdict rules built on its estimates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from freqlens import verdicts
from freqlens.contract import (
    AnalysisResult,
    Estimate,
    batch_slices,
    evaluating,
    placement,
    subsample,
    subsample_indices,
)
from freqlens.errors import FreqlensError
from freqlens.experiments.base import Comparison


def mixed_mode_model() -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 2))
    model.train()
    model[2].eval()  # frozen BatchNorm inside a training model
    return model


def test_evaluating_restores_each_submodule_mode_even_on_error():
    model = mixed_mode_model()
    before = [m.training for m in model.modules()]
    with pytest.raises(RuntimeError), evaluating(model):
        assert not any(m.training for m in model.modules())
        raise RuntimeError("boom")
    assert [m.training for m in model.modules()] == before


def test_placement_follows_parameters_then_the_input():
    assert placement(nn.Linear(2, 2).double()) == (torch.device("cpu"), torch.float64)
    assert placement(lambda x: x, torch.zeros(1, dtype=torch.float16)) == (torch.device("cpu"), torch.float16)
    assert placement(nn.ReLU()) == (torch.device("cpu"), torch.float32)


def test_subsample_is_one_sorted_seeded_draw():
    a = subsample_indices(100, 10, seed=3)
    assert a is not None and a.tolist() == sorted(set(a.tolist())) and len(a) == 10
    assert torch.equal(a, subsample_indices(100, 10, seed=3))
    assert not torch.equal(a, subsample_indices(100, 10, seed=4))
    x, y = torch.arange(100.0).view(100, 1, 1, 1), torch.arange(100)
    xs, ys = subsample(x, y, 10, seed=3)
    assert torch.equal(ys, a) and torch.equal(xs.flatten(), a.double().float())
    assert subsample(x, y, None)[0] is x
    for bad in (0, -1, 2.5, True):
        with pytest.raises(FreqlensError):
            subsample_indices(100, bad)  # type: ignore[arg-type]


def test_batch_slices_cover_range_once():
    covered = [i for s in batch_slices(10, 3, desc="t", progress=False) for i in range(s.start, s.stop)]
    assert covered == list(range(10))
    with pytest.raises(FreqlensError):
        list(batch_slices(10, 0, desc="t"))


def test_judge_reads_the_interval_not_the_point():
    assert verdicts.judge(Estimate(0.3, 0.1), ">", 0.0) == "agree"
    assert verdicts.judge(Estimate(0.1, 0.1), ">", 0.0) == "inconclusive"
    assert verdicts.judge(Estimate(-0.3, 0.1), ">", 0.0) == "disagree"
    assert verdicts.judge(Estimate(0.3, 0.1), "<", 0.0) == "disagree"
    # a margin moves the threshold: +0.3 agrees with "> 0" but is inconclusive against "> 0.2"
    assert verdicts.judge(Estimate(0.3, 0.1), ">", 0.2) == "inconclusive"


def test_a_claim_whose_control_passes_cannot_discriminate():
    claim, control = Estimate(0.5, 0.05), Estimate(0.4, 0.05)
    assert verdicts.verdict(claim, ">", 0.1, control) == ("cannot discriminate", "agree")
    assert verdicts.verdict(claim, ">", 0.1, Estimate(0.0, 0.05)) == ("agree", "disagree")
    c = Comparison.measured("x", claim, ">", 0.1, None, "P", control=control, control_label="swapped")
    assert c.status == "cannot discriminate" and c.agree is None and c.control["label"] == "swapped"


def test_comparison_status_round_trips_and_old_flags_still_work():
    assert Comparison("x", 1.0, 1.0, "P", "e", True).status == "agree"
    assert Comparison("x", 1.0, 1.0, "P", "e", False).status == "disagree"
    assert Comparison("x", 1.0, 1.0, "P", "e", None).status == "not judged"
    c = Comparison.measured("x", Estimate(0.1, 0.2), ">", 0.0, None, "P")
    again = Comparison(**{**vars(c)})
    assert again.status == "inconclusive" and again.estimate == c.estimate
    with pytest.raises(FreqlensError):
        Comparison("x", 1.0, 1.0, "P", "e", None, status="maybe")


def test_analysis_result_saves_arrays_and_figures(tmp_path):
    import matplotlib.pyplot as plt

    def figure():
        fig, ax = plt.subplots()
        ax.plot([0, 1])
        return fig

    result = AnalysisResult(
        "demo",
        metrics={"acc": Estimate.proportion(3, 4), "count": 3},
        arrays={"curve": torch.arange(4.0)},
        figures={"plot": figure},
        conventions={"fft_norm": "ortho"},
    )
    summary = result.save(tmp_path)
    assert summary["figures"] == {"plot": "plot.png"} and (tmp_path / "plot.png").stat().st_size > 0
    with np.load(tmp_path / "arrays.npz") as data:
        assert data["curve"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert summary["metrics"]["acc"]["n"] == 4 and summary["metrics"]["count"] == 3
    with pytest.raises(FreqlensError, match="no metric"):
        result.value("missing")
