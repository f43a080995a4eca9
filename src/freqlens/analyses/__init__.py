"""Analyses built on the spectral core: one concept per module, each registered with the analysis contract.

Importing this package registers every built-in analysis (:func:`freqlens.contract.list_analyses`).
"""

from freqlens.analyses import datastats, defence, heatmap, hfc, kernels, perturbations, sensitivity

__all__ = ["datastats", "defence", "heatmap", "hfc", "kernels", "perturbations", "sensitivity"]
