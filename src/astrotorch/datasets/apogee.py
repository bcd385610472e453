"""astroNN's ``astroNN.datasets.apogee`` path: the APOGEE catalogue loaders of :mod:`astrotorch.apogee.catalogs`."""

from astrotorch.apogee.catalogs import load_apogee_distances, load_apogee_rc, load_apokasc

__all__ = ["load_apogee_distances", "load_apogee_rc", "load_apokasc"]
