"""Godfrey et al.'s experiments (papers.md §2): do CNNs inherit their frequency sensitivity from the data's spectrum?

Three recipes share one cell type: train a model (or take it untrained), measure its Fourier gradient sensitivity per
test image (logits, meannorm) seen through the model's training view, and compare its radial profile with the radial
profile of the training data's RMS amplitude (Godfrey's ``empirical_power``; both normalised to distributions):

* ``godfrey-highpass``: natural vs high-pass training data (his asymmetric square, cutoff 8) and untrained baselines,
  for the small CNN and the linear and ReLU full-width circular CNNs (predictions Q2, Q3, Q6; check A13);
* ``godfrey-weight-decay``: weight-decay sweeps (Q4);
* ``godfrey-depth``: depth sweeps of the circular CNNs (Q5).

Modules, one concept each: :mod:`.setups` (families, training and measurement per profile, sweeps, and why each
profile is sized as it is), :mod:`.measure` (what a cell measures), :mod:`.stats` (statistics with bootstrap or
seed uncertainty), :mod:`.claims` (the predictions as measured claims with negative controls and diagnoses),
:mod:`.recipes` (the recipes, tables and figures).
"""

from freqlens.experiments.godfrey.recipes import GodfreyDepth, GodfreyHighpass, GodfreyWeightDecay
from freqlens.experiments.godfrey.setups import HIGHPASS, cell_config, train_setup

__all__ = [
    "HIGHPASS",
    "GodfreyDepth",
    "GodfreyHighpass",
    "GodfreyWeightDecay",
    "cell_config",
    "train_setup",
]
