"""Gradient attacks on image classifiers: FGSM, PGD-L∞ and PGD-L2, and robust accuracy over a list of ε.

Conventions (recorded by :func:`conventions`):

* Images are in [0, 1] pixel space (the model's normalisation lives inside the model); ε is measured there.
* The loss is the summed cross-entropy of the logits; untargeted attacks ascend it for the true labels, targeted
  attacks descend it for the target labels.
* Steps: L∞ moves by ``step_size * sign(g)``, L2 by ``step_size * g / ||g||₂``; after each step the perturbation is
  projected onto the ε-ball (L∞: clamp, L2: rescale) and the image clipped to [0, 1].
* Random start: L∞ uniform in ``[-ε, ε]`` per pixel; L2 uniform in the ε-ball (Gaussian direction, radius
  ``ε·U^(1/d)``). Draws come from ``generator`` (on its own device, then moved), so a seed gives the same start on
  CPU and CUDA.
* Fourier band (``band``): the gradient, the step and the perturbation are projected onto the band with
  :func:`freqlens.fourier.apply_gain`. For L∞ the band-limited perturbation is rescaled (not clamped) into the ball,
  which keeps it in the band. The last clip of the image to [0, 1] can add out-of-band energy at saturated pixels;
  nothing else does.
* Attacks never change the model's train/eval mode and never touch parameter gradients (they differentiate with
  respect to the input only).

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    >>> x, y = torch.rand(5, 3, 2, 2), torch.tensor([0, 1, 2, 0, 1])
    >>> x_adv = pgd(model, x, y, 0.03, steps=5, generator=torch.Generator().manual_seed(0))
    >>> bool((x_adv - x).abs().max() <= 0.03 + 1e-7), bool(x_adv.min() >= 0 and x_adv.max() <= 1)
    (True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freqlens import fourier
from freqlens.checks import check_labels, check_logits
from freqlens.contract import batch_slices, evaluating, placement
from freqlens.errors import FreqlensError
from freqlens.views import View

__all__ = ["Attack", "bind_attack", "conventions", "fgsm", "pgd", "resolve_attack", "robust_accuracy"]

Norm = Literal["linf", "l2"]
Band = str | View | Tensor | None
Attack = Callable[[nn.Module, Tensor, Tensor, Tensor], Tensor]
Filter = Callable[[Tensor], Tensor]

# The audit's L-inf budget (pixels in [0, 1]): 0.03 at 32x32, scaled by 32 / side so a perturbation of that L-inf size
# has the same L2 norm at every size (0.0043, about 1.1/255, at 224x224, where 0.03 fooled every band of a pretrained
# model).
ATTACK_EPS_AT_32 = 0.03


def attack_eps(h: int, w: int) -> float:
    """The audit's L∞ budget for ``h`` x ``w`` images (see :data:`ATTACK_EPS_AT_32`), to 5 decimals.

    Example:
        >>> attack_eps(32, 32), round(attack_eps(224, 224) * 255, 2)
        (0.03, 1.09)
    """
    return round(ATTACK_EPS_AT_32 * 32 / math.sqrt(h * w), 5)


def _per_sample(value: float | Tensor, x: Tensor, name: str) -> Tensor:
    """A non-negative scalar or ``(N,)`` tensor as an ``(N, 1, 1, 1)`` tensor on ``x``'s device and dtype."""
    t = torch.as_tensor(value, dtype=x.dtype).to(x.device)
    n = x.shape[0]
    if t.dim() > 1 or (t.dim() == 1 and t.shape[0] != n):
        raise FreqlensError(f"{name} must be a number or a tensor of shape ({n},), got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
        shown = float(t) if t.dim() == 0 else f"a tensor with min {float(t.min()):g}"
        raise FreqlensError(f"{name} must be finite and >= 0, got {shown}")
    return t.expand(n).reshape(n, 1, 1, 1)


def _band_filter(band: Band, h: int, w: int) -> Filter | None:
    """The linear Fourier filter a ``band`` argument names: a view spec (``lfc:8``, ``hfc:8``, ``band:2:6``,
    ``hpsquare:8``) or a centred ``(H, W)`` gain/mask."""
    if band is None:
        return None
    if isinstance(band, str | View):
        view = View.parse(band)
        if view.kind == "original" or not view.is_linear:
            raise FreqlensError(f"band {band!s} is not a band projection; use lfc:R, hfc:R, band:A:B or hpsquare:C")
        return view
    if isinstance(band, Tensor):
        if band.shape != (h, w):
            raise FreqlensError(f"band mask must be a centred ({h}, {w}) tensor, got shape {tuple(band.shape)}")
        return lambda d: fourier.apply_gain(d, band)
    raise FreqlensError(f"band must be a view name such as 'lfc:8' or a centred mask tensor, got {type(band).__name__}")


def _check_inputs(model: nn.Module, x: Tensor, y: Tensor) -> None:
    if not isinstance(model, nn.Module):
        raise FreqlensError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    fourier.check_images(x)
    check_labels(y, x.shape[0])
    lo, hi = torch.aminmax(x.detach())
    if float(lo) < 0 or float(hi) > 1:
        raise FreqlensError(f"images must lie in [0, 1], got values in [{float(lo):.3g}, {float(hi):.3g}]")


def _input_gradient(model: nn.Module, x_adv: Tensor, y: Tensor, targeted: bool) -> tuple[Tensor, Tensor]:
    """Gradient of the summed cross-entropy with respect to the input only (parameters' ``.grad`` untouched), and
    the logits it was computed from."""
    with torch.enable_grad():
        inp = x_adv.detach().requires_grad_(True)
        logits = check_logits(model(inp), inp.shape[0], y)
        loss = F.cross_entropy(logits, y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, inp)
    return (-grad if targeted else grad), logits.detach()


def _l2(t: Tensor) -> Tensor:
    return t.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


def _safe_ratio(eps: Tensor, size: Tensor) -> Tensor:
    """``min(1, eps / size)`` with ``size == 0`` giving 1 (or 0 when ``eps == 0``)."""
    return (eps / size.clamp_min(torch.finfo(size.dtype).tiny)).clamp(max=1)


def _direction(grad: Tensor, norm: Norm, band: Filter | None) -> Tensor:
    """Steepest-ascent step of unit size for the norm, restricted to the band."""
    if band is not None:
        grad = band(grad)
    if norm == "linf":
        step = grad.sign()
        # <g, band(sign(band g))> = ||band g||_1 >= 0, so the band-limited sign step still ascends.
        return band(step) if band is not None else step
    return grad / _l2(grad).clamp_min(torch.finfo(grad.dtype).tiny)


def _project(x: Tensor, delta: Tensor, eps: Tensor, norm: Norm, band: Filter | None) -> Tensor:
    """Image ``clip(x + P(delta), 0, 1)`` with ``P`` the projection onto the band and the ε-ball."""
    if band is not None:
        delta = band(delta)
    if norm == "l2":
        delta = delta * _safe_ratio(eps, _l2(delta))
    elif band is None:
        delta = torch.maximum(torch.minimum(delta, eps), -eps)
    else:
        delta = delta * _safe_ratio(eps, delta.abs().amax(dim=(1, 2, 3), keepdim=True))
    return (x + delta).clamp(0, 1)


def _random_delta(x: Tensor, eps: Tensor, norm: Norm, generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else x.device
    shape = tuple(x.shape)
    if norm == "linf":
        u = torch.rand(shape, generator=generator, device=device, dtype=x.dtype).to(x.device)
        return (2 * u - 1) * eps
    direction = torch.randn(shape, generator=generator, device=device, dtype=x.dtype).to(x.device)
    radius = torch.rand((shape[0], 1, 1, 1), generator=generator, device=device, dtype=x.dtype).to(x.device)
    dims = math.prod(shape[1:])
    return direction / _l2(direction).clamp_min(torch.finfo(x.dtype).tiny) * eps * radius ** (1.0 / dims)


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float | Tensor,
    *,
    steps: int = 10,
    step_size: float | Tensor | None = None,
    norm: Norm = "linf",
    random_start: bool = True,
    targeted: bool = False,
    band: Band = None,
    generator: torch.Generator | None = None,
    early_stop: bool = False,
) -> Tensor:
    """Projected gradient descent (Madry et al.) in the L∞ or L2 ε-ball around ``x``, images kept in [0, 1].

    Args:
        model: classifier returning logits for images in [0, 1]; its mode is left as it is.
        x: images ``(N, C, H, W)`` in [0, 1].
        y: int64 labels ``(N,)``: true labels, or target labels when ``targeted``.
        eps: radius, a number or a per-sample ``(N,)`` tensor (``eps = 0`` returns ``x`` exactly).
        steps: number of gradient steps (> 0).
        step_size: a number or ``(N,)`` tensor; default ``2.5 * eps / steps``.
        norm: ``"linf"`` or ``"l2"``.
        random_start: start from a uniform random point of the ball.
        targeted: move towards the classes ``y`` instead of away from them.
        band: keep the perturbation in a Fourier band: a view name (``lfc:8``, ``hfc:8``, ``band:2:6``) or a centred
            ``(H, W)`` mask.
        generator: source of the random start (any device).
        early_stop: stop moving an image at the first iterate (the start included) that the model misclassifies
            (classifies as the target, when ``targeted``); later steps attack only the others. For measuring robust
            accuracy this is as strong as running every step, and cheaper; training wants the full attack.

    Returns:
        Adversarial images, detached, same shape, dtype and device as ``x``.
    """
    _check_inputs(model, x, y)
    if norm not in ("linf", "l2"):
        raise FreqlensError(f"norm must be 'linf' or 'l2', got {norm!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise FreqlensError(f"steps must be a positive integer, got {steps!r}")
    x, y = x.detach(), y.to(x.device)
    eps_t = _per_sample(eps, x, "eps")
    alpha = 2.5 * eps_t / steps if step_size is None else _per_sample(step_size, x, "step_size")
    flt = _band_filter(band, *x.shape[-2:])
    x_adv = _project(x, _random_delta(x, eps_t, norm, generator), eps_t, norm, flt) if random_start else x
    if not early_stop:
        for _ in range(steps):
            grad, _ = _input_gradient(model, x_adv, y, targeted)
            x_adv = _project(x, (x_adv - x) + alpha * _direction(grad, norm, flt), eps_t, norm, flt)
        return x_adv.detach()
    active = torch.arange(x.shape[0], device=x.device)  # images not yet fooled
    for _ in range(steps):
        x0, xa, ya = x[active], x_adv[active], y[active]
        grad, logits = _input_gradient(model, xa, ya, targeted)
        left = (logits.argmax(dim=1) == ya) != targeted
        active, x0, xa, grad = active[left], x0[left], xa[left], grad[left]
        if active.numel() == 0:
            break
        step = _project(x0, (xa - x0) + alpha[active] * _direction(grad, norm, flt), eps_t[active], norm, flt)
        x_adv = x_adv.index_copy(0, active, step)
    return x_adv.detach()


def fgsm(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float | Tensor,
    *,
    random_start: bool = False,
    step_size: float | Tensor | None = None,
    targeted: bool = False,
    band: Band = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fast gradient sign method: one L∞ step ``clip(x + eps * sign(∇ₓ loss), 0, 1)``.

    With ``random_start`` it is Wong et al.'s FGSM-RS: a uniform start in the ε-ball, then one step of
    ``step_size`` (default ``1.25 * eps``), projected back into the ball. Without it ``step_size`` defaults to ``eps``.
    Other arguments as :func:`pgd`.
    """
    if step_size is None:
        step_size = 1.25 * torch.as_tensor(eps) if random_start else eps
    return pgd(
        model,
        x,
        y,
        eps,
        steps=1,
        step_size=step_size,
        norm="linf",
        random_start=random_start,
        targeted=targeted,
        band=band,
        generator=generator,
    )


def resolve_attack(attack: str | Attack, kwargs: dict[str, object]) -> Attack:
    """``"fgsm"``/``"pgd"`` with options bound, as a callable ``(model, x, y, eps) -> x_adv``; callables pass."""
    if callable(attack):
        if kwargs:
            raise FreqlensError("attack options are only accepted with a named attack ('fgsm' or 'pgd')")
        return attack
    table: dict[str, Callable[..., Tensor]] = {"fgsm": fgsm, "pgd": pgd}
    if attack not in table:
        raise FreqlensError(f"unknown attack {attack!r}; use 'fgsm', 'pgd' or a callable (model, x, y, eps) -> x_adv")
    fn = table[attack]
    return lambda model, x, y, eps: fn(model, x, y, eps, **kwargs)


def bind_attack(
    method: str,
    *,
    steps: int = 10,
    step_fraction: float | None = None,
    norm: Norm = "linf",
    random_start: bool = True,
    band: Band = None,
    generator: torch.Generator | None = None,
    early_stop: bool = False,
) -> Attack:
    """``"fgsm"`` or ``"pgd"`` as ``(model, x, y, eps) -> x_adv`` with its options bound; the PGD step is
    ``step_fraction`` of each image's ε (None: :func:`pgd`'s default). FGSM is one L∞ step of ε, no random start.

    Example:
        >>> attack = bind_attack("pgd", steps=3, step_fraction=0.25)
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
        >>> x = attack(net, torch.rand(2, 3, 2, 2), torch.tensor([0, 1]), torch.full((2,), 0.1))
        >>> tuple(x.shape)
        (2, 3, 2, 2)
    """
    if method == "fgsm":
        return lambda model, x, y, eps: fgsm(model, x, y, eps, band=band)
    if method != "pgd":
        raise FreqlensError(f"unknown attack {method!r}; use 'fgsm' or 'pgd'")

    def run(model: nn.Module, x: Tensor, y: Tensor, eps: Tensor) -> Tensor:
        step = None if step_fraction is None else step_fraction * eps
        return pgd(
            model,
            x,
            y,
            eps,
            steps=steps,
            step_size=step,
            norm=norm,
            random_start=random_start,
            band=band,
            generator=generator,
            early_stop=early_stop,
        )

    return run


@torch.no_grad()
def robust_accuracy(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    eps_list: Sequence[float],
    attack: str | Attack = "pgd",
    batch_size: int = 256,
    *,
    progress: bool = True,
    **attack_kwargs: object,
) -> dict[float, float]:
    """Accuracy under attack for each ε: the fraction of images classified correctly both clean and attacked.

    The model runs in eval mode (each submodule's mode is restored afterwards), on its own device; ``images`` and
    ``labels`` may live anywhere and are moved batch by batch. Only images the model classifies correctly are
    attacked (an image it gets wrong is non-robust at every ε, since ``x`` lies in every ball). ``attack`` is
    ``"fgsm"`` or ``"pgd"`` (``attack_kwargs`` go to it, e.g. ``steps=20, norm="l2", generator=g``) or a callable
    ``(model, x, y, eps) -> x_adv`` where ``eps`` is an ``(n,)`` tensor. ``eps = 0`` gives the clean accuracy.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
        >>> x, y = torch.rand(8, 3, 2, 2), torch.randint(0, 2, (8,))
        >>> acc = robust_accuracy(model, x, y, [0.0, 0.1], attack="fgsm", progress=False)
        >>> list(acc), acc[0.1] <= acc[0.0]
        ([0.0, 0.1], True)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise FreqlensError(f"batch_size must be a positive integer, got {batch_size!r}")
    eps_values = [float(e) for e in eps_list]
    if not eps_values:
        raise FreqlensError("eps_list is empty; give at least one ε such as [0, 0.03]")
    for e in eps_values:
        if not math.isfinite(e) or e < 0:
            raise FreqlensError(f"every ε must be finite and >= 0, got {e}")
    fourier.check_images(images)
    check_labels(labels, images.shape[0])
    run = resolve_attack(attack, dict(attack_kwargs))
    device, dtype = placement(model, images)
    correct = dict.fromkeys(eps_values, 0)
    with evaluating(model):
        for part in batch_slices(images.shape[0], batch_size, desc="robust accuracy", progress=progress):
            x = images[part].to(device, dtype)
            y = labels[part].to(device)
            right = check_logits(model(x), len(x), y).argmax(dim=1) == y
            xs, ys = x[right], y[right]
            for e in eps_values:
                if e == 0 or xs.shape[0] == 0:
                    correct[e] += int(right.sum())
                else:
                    x_adv = run(model, xs, ys, torch.full((xs.shape[0],), e, dtype=xs.dtype, device=device))
                    correct[e] += int((model(x_adv).argmax(dim=1) == ys).sum())
    return {e: correct[e] / images.shape[0] for e in eps_values}


def conventions() -> dict[str, str]:
    """The attack conventions every result file records."""
    return {
        "pixel_space": "[0, 1], before the model's own normalisation; eps in that scale",
        "loss": "summed cross-entropy of logits; targeted attacks descend it for the target labels",
        "linf_step": "step_size * sign(grad), clamp to the eps-ball, clip image to [0, 1]",
        "l2_step": "step_size * grad / ||grad||_2, rescale into the eps-ball, clip image to [0, 1]",
        "random_start": "linf: uniform in [-eps, eps]; l2: uniform in the eps-ball",
        "default_step_size": "pgd 2.5 * eps / steps; fgsm eps (1.25 * eps with random start)",
        "robust_accuracy": "correct on x and on x_adv; only clean-correct images are attacked; model in eval mode",
    }
