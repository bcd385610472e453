"""Readers outside astrotorch.io open user files through its safe openers: broken files give typed errors."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from astrotorch.errors import DataFormatError, ModelFolderError


def test_lamost_catalogue_with_truncated_table_data_is_a_data_format_error(tmp_path):
    from astrotorch.lamost import load_lamost_catalog

    path = tmp_path / "dr5_stellar.fits"
    Table({"obsid": np.arange(2000), "teff": np.full(2000, 5000.0)}).write(path)
    path.write_bytes(path.read_bytes()[:-6000])  # headers intact, the last rows cut off
    with pytest.raises(DataFormatError, match="truncated"):
        load_lamost_catalog(path)


def test_gaia_parallax_file_errors_name_the_file_and_the_arrays(tmp_path):
    from astrotorch.gaia import gaiadr2_parallax

    partial = tmp_path / "gaia.npz"
    np.savez(partial, RA=np.zeros(2), DEC=np.zeros(2))
    with pytest.raises(DataFormatError, match=r"gaia\.npz lacks arrays \['parallax', 'parallax_error', 'g'\]"):
        gaiadr2_parallax(path=partial)
    pickled = tmp_path / "objects.npz"
    np.savez(pickled, RA=np.array([{"a": 1}], dtype=object), DEC=np.zeros(1), parallax=np.zeros(1),
             parallax_error=np.zeros(1), g=np.zeros(1))
    with pytest.raises(DataFormatError, match="objects.npz"):
        gaiadr2_parallax(path=pickled)  # never unpickled
    with pytest.raises(DataFormatError, match="not a regular file"):
        gaiadr2_parallax(path=tmp_path)


def test_keras_model_file_that_is_empty_is_a_model_folder_error(tmp_path):
    from astrotorch.models.keras_h5 import KerasH5

    empty = tmp_path / "model_weights.h5"
    empty.write_bytes(b"")
    with pytest.raises(ModelFolderError, match=r"model_weights\.h5.*empty"):
        KerasH5(empty)
