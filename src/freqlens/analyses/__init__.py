"""Analyses of trained models: one concept per module (hfc, kernels, sensitivity, heatmap, datastats)."""
