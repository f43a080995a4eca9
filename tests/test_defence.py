"""The Table-2 evaluation (kernel smoothing under fixed-ε FGSM and PGD) on registry models and synthetic images."""

from __future__ import annotations

import torch

from freqlens.analyses import kernels
from freqlens.analyses.defence import smoothing_table, table_figure, table_markdown
from freqlens.attacks import robust_accuracy
from freqlens.data import open_dataset
from freqlens.models import create_model
from freqlens.provenance import save_figure


def setup():
    """Two small CNNs fitted to the same 40 images (so that attacks have correct predictions to break)."""
    data = open_dataset("synthetic:powerlaw?n=40&size=16&classes=2&spread=2", "test")
    models = {}
    for seed, name in ((0, "a"), (1, "b")):
        torch.manual_seed(seed)
        model = create_model("small_cnn", num_classes=2, image_size=16, width=8, batchnorm=False)
        opt = torch.optim.Adam(model.parameters(), 1e-2)
        for _ in range(20):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(data.images), data.labels).backward()
            opt.step()
        models[name] = model.eval()
    return models, data.images, data.labels


def test_rows_are_consistent_with_direct_evaluation(tmp_path):
    models, x, y = setup()
    before = {n: {k: v.clone() for k, v in m.state_dict().items()} for n, m in models.items()}
    kwargs = {"pgd_steps": 3, "batch_size": 16, "progress": False}
    rows, panels = smoothing_table(models, x, y, [0.0, 0.5, 1.0], [0.01, 0.05], **kwargs)
    assert [(r["model"], r["rho"]) for r in rows] == [(n, r) for n in "ab" for r in (0.0, 0.5, 1.0)]
    assert set(panels) == {"a", "a ρ=1", "b", "b ρ=1"} and all(r["layer"] == "1" for r in rows)
    for name, model in models.items():  # inputs untouched
        assert all(torch.equal(v, before[name][k]) for k, v in model.state_dict().items())
    direct = robust_accuracy(models["a"], x, y, [0.0, 0.01, 0.05], attack="fgsm", progress=False)
    assert rows[0]["clean"] == direct[0.0] and rows[0]["fgsm"] == {"0.01": direct[0.01], "0.05": direct[0.05]}
    smoothed = kernels.smooth_model(models["b"], 1.0)
    with torch.no_grad():
        assert rows[5]["clean"] == float((smoothed(x).argmax(1) == y).double().mean())
    for row in rows:
        assert max(row["pgd"].values()) <= row["clean"] and max(row["fgsm"].values()) <= row["clean"]
    assert rows[0]["clean"] >= 0.8 and rows[0]["pgd"]["0.05"] < rows[0]["clean"]  # fitted; the attack breaks some
    hf = [r["kernel_smoothness"]["hf_fraction_mean"] for r in rows[:3]]
    assert hf[0] > hf[1] > hf[2]
    again, _ = smoothing_table(models, x, y, [0.0, 0.5, 1.0], [0.01, 0.05], **kwargs)
    assert again == rows  # seeded PGD starts
    md = table_markdown(rows)
    assert md.splitlines()[0].startswith("| model | ρ | clean | FGSM 0.01 | FGSM 0.05 | PGD 0.01")
    assert len(md.splitlines()) == 2 + len(rows)
    assert save_figure(table_figure(rows), tmp_path / "t.png").stat().st_size > 0


def test_pgd_step_and_early_stop_reach_the_attack():
    # pgd_step=None, no early stop: exactly attacks.pgd's defaults (2.5 ε / steps per step), as the E9 recipe uses.
    models, x, y = setup()
    model = models["b"]
    eps = [0.05, 0.1]
    direct = robust_accuracy(
        model, x, y, eps, "pgd", 16, progress=False, steps=2, generator=torch.Generator().manual_seed(0)
    )
    kwargs = {"pgd_steps": 2, "batch_size": 16, "progress": False}
    rows, _ = smoothing_table({"b": model}, x, y, [0.0], eps, pgd_step=None, pgd_early_stop=False, **kwargs)
    assert rows[0]["clean"] == 1.0 and rows[0]["pgd"] == {str(e): direct[e] for e in eps}
    default, _ = smoothing_table({"b": model}, x, y, [0.0], eps, **kwargs)
    assert default[0]["pgd"] != rows[0]["pgd"]  # ε/4 steps with early stop: a different attack
