"""Godfrey's representation-cost theory, computed (papers.md §2.2).

An L-layer linear circular CNN is, frequency by frequency, a product of channel matrices
(:mod:`freqlens.spectral_layers`). Weight decay on its weights is then a Schatten-2/L penalty on the end-to-end
per-frequency matrices (:mod:`.cost`), and the regularised squared-loss optimum follows from the data's per-frequency
second moments (:mod:`.moments`, :mod:`.solve`): the predicted Fourier sensitivity map, before any training.

Penalty convention: freqlens's trainer passes ``weight_decay = wd`` to the optimizer for every parameter with two or
more dimensions (conv and linear weights; not biases or the normalisation), i.e. it adds ``wd * w`` to the gradient
(SGD, Adam): the objective it descends is ``loss + (wd / 2) * sum_l ||w_l||^2``. Here the loss is the squared error
summed over outputs and averaged over images, ``mean_i ||f(x_i) - y_i||^2``.
"""

from freqlens.theory.cost import balanced_spectrum, penalty_coefficient, representation_cost, weight_penalty
from freqlens.theory.fit import fit_squared_loss
from freqlens.theory.moments import FrequencyMoments, frequency_moments, offdiagonal_mass, shift_closed
from freqlens.theory.solve import Solution, objective, predict, scalar_minimiser

__all__ = [
    "FrequencyMoments",
    "Solution",
    "balanced_spectrum",
    "fit_squared_loss",
    "frequency_moments",
    "objective",
    "offdiagonal_mass",
    "penalty_coefficient",
    "predict",
    "representation_cost",
    "scalar_minimiser",
    "shift_closed",
    "weight_penalty",
]
