"""Training a linear circular CNN to the regularised optimum the theory predicts: full-batch L-BFGS on squared loss
with weight decay in freqlens's convention (``mean_i ||f(x_i) - y_i||^2 + (wd / 2) sum ||w||^2``, decayed weights:
the parameters with two or more dimensions, as the trainer decays them).

Full batch and a quasi-Newton method, rather than freqlens's SGD trainer, because the question is whether the network
*reaches* the optimum: SGD's noise floor and the ill-conditioning of full-width kernels (curvature proportional to the
data power at each frequency, over four decades for power-law data) would leave a gap that says nothing about the
theory. The objective after each outer step is logged, so a run that has not converged shows it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

OUTER_STEPS = 40  # L-BFGS restarts at most; each runs up to ``evaluations // OUTER_STEPS`` function evaluations
PLATEAU = 1e-12  # relative change of the objective over one outer step that counts as converged


def regularised_loss(model: nn.Module, x: Tensor, y: Tensor, weight_decay: float) -> Tensor:
    """``mean_i ||f(x_i) - y_i||^2 + (wd / 2) sum ||w||^2`` over the decayed weights."""
    penalty = sum((p**2).sum() for p in model.parameters() if p.ndim > 1)
    return ((model(x) - y) ** 2).sum(dim=1).mean() + weight_decay / 2 * penalty


def fit_squared_loss(
    model: nn.Module, x: Tensor, y: Tensor, weight_decay: float, evaluations: int = 2000, progress: bool = False
) -> dict[str, Any]:
    """Minimise :func:`regularised_loss` over ``model``'s parameters with full-batch L-BFGS (strong Wolfe line
    search), in the model's dtype; returns the objective after each outer step, the evaluations used, whether it
    converged and the final gradient norm."""
    params = [p for p in model.parameters() if p.requires_grad]
    per_step = max(1, evaluations // OUTER_STEPS)
    opt = torch.optim.LBFGS(
        params,
        lr=1,
        max_iter=per_step,
        tolerance_grad=1e-14,
        tolerance_change=1e-16,
        history_size=50,
        line_search_fn="strong_wolfe",
    )
    used = 0

    def closure() -> Tensor:
        nonlocal used
        used += 1
        opt.zero_grad()
        loss = regularised_loss(model, x, y, weight_decay)
        loss.backward()
        return loss

    history: list[float] = []
    converged = False
    for _ in tqdm(range(OUTER_STEPS), desc="L-BFGS", disable=not progress, leave=False):
        opt.step(closure)
        with torch.no_grad():
            history.append(float(regularised_loss(model, x, y, weight_decay)))
        if len(history) >= 2 and abs(history[-2] - history[-1]) <= PLATEAU * max(abs(history[-1]), 1e-300):
            converged = True
            break
        if used >= evaluations:
            break
    opt.zero_grad()
    regularised_loss(model, x, y, weight_decay).backward()
    grad = float(sum(p.grad.pow(2).sum() for p in params if p.grad is not None) ** 0.5)
    opt.zero_grad()
    return {"objective": history, "evaluations": used, "converged": converged, "gradient_norm": grad}
