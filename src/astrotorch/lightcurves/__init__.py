"""Light curves: containers, readers, normalisation, batching, period search, features and metrics.

See :mod:`astrotorch.lightcurves.container` for the magnitude ↔ flux convention (AB, µJy).
"""

from astrotorch.lightcurves.batching import (
    LengthBucketBatchSampler,
    LightCurveDataset,
    make_collate,
    pad_encoded,
)
from astrotorch.lightcurves.cache import clear_cache
from astrotorch.lightcurves.container import (
    AB_ZERO_POINT_UJY,
    LSST_BANDS,
    PLASTICC_ZERO_POINT,
    LightCurve,
    LightCurveSet,
    flux_to_mag,
    mag_to_flux,
)
from astrotorch.lightcurves.normalisation import EncodeOptions, encode, normalise_flux
from astrotorch.lightcurves.periods import PeriodOptions, lomb_scargle_period, period_inputs, period_table
from astrotorch.lightcurves.readers import (
    load_rrlyrae_stripe82,
    load_snia_ztf_bts,
    read_csv_folder,
    read_lightcurve_csv,
    read_parquet,
    read_plasticc,
    write_parquet,
)

__all__ = [
    "AB_ZERO_POINT_UJY", "LSST_BANDS", "PLASTICC_ZERO_POINT", "LightCurve", "LightCurveSet", "flux_to_mag",
    "mag_to_flux", "EncodeOptions", "encode", "normalise_flux", "LengthBucketBatchSampler", "LightCurveDataset",
    "make_collate", "pad_encoded", "load_rrlyrae_stripe82", "load_snia_ztf_bts", "read_csv_folder",
    "read_lightcurve_csv", "read_parquet", "read_plasticc", "write_parquet", "PeriodOptions", "lomb_scargle_period",
    "period_inputs", "period_table", "clear_cache",
]
