"""Analyses built on the spectral core: one concept per module."""
