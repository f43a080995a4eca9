"""Analyses: measurements of how a model uses input frequencies (one concept per module)."""
