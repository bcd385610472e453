"""Data sets: synthetic generators for every data kind, survey loaders and streaming readers.

Submodules are imported on demand (``from astrotorch.datasets.spectra import synthetic_spectra``)
so that importing one kind never pays for the others.
"""
