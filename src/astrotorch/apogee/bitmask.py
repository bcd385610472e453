"""APOGEE pixel bitmasks (APOGEE_PIXMASK): turning bit values into boolean masks and bit lists.

Each pixel of an apStar/apVisit spectrum carries an integer whose set bits flag problems
(SDSS DR17 ``APOGEE_PIXMASK``). astroNN masks, by default, the bits that mean the flux is
unusable: 0 BADPIX, 1 CRPIX, 2 SATPIX, 3 UNFIXABLE, 4 BADDARK, 5 BADFLAT, 6 BADERR, 7 NOSKY and
12 SIG_SKYLINE. The persistence (9–11) and telluric (13) bits are informational and kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from astrotorch.errors import InputValidationError

#: APOGEE_PIXMASK bit names (SDSS DR17 data model).
APOGEE_PIXMASK_BITS: dict[int, str] = {
    0: "BADPIX",
    1: "CRPIX",
    2: "SATPIX",
    3: "UNFIXABLE",
    4: "BADDARK",
    5: "BADFLAT",
    6: "BADERR",
    7: "NOSKY",
    8: "LITTROW_GHOST",
    9: "PERSIST_HIGH",
    10: "PERSIST_MED",
    11: "PERSIST_LOW",
    12: "SIG_SKYLINE",
    13: "SIG_TELLURIC",
    14: "NOT_ENOUGH_PSF",
}

#: Bits masked by default (astroNN's choice): pixels whose flux cannot be trusted.
DEFAULT_TARGET_BITS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 12)


def _as_bits(target_bit: int | Sequence[int] | np.ndarray | None) -> np.ndarray:
    bits = np.atleast_1d(np.asarray(DEFAULT_TARGET_BITS if target_bit is None else target_bit))
    if bits.size == 0:
        return bits.astype(np.int64)
    if not np.issubdtype(bits.dtype, np.integer) or bits.ndim != 1 or bits.min() < 0 or bits.max() > 62:
        raise InputValidationError(f"target bits must be a list of integers in 0..62, got {target_bit!r}")
    return bits.astype(np.int64)


def bits_to_value(bits: int | Sequence[int] | np.ndarray) -> int:
    """Integer whose set bits are ``bits`` (e.g. ``[0, 7] -> 129``); duplicates count once."""
    value = 0
    for b in np.unique(_as_bits(bits)):
        value |= 1 << int(b)
    return value


def bitmask_boolean(
    bitmask: np.ndarray,
    target_bit: int | Sequence[int] | np.ndarray | None = None,
    drop_bit: int | Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask, ``True`` where any of ``target_bit`` is set (the pixel is *bad*), as astroNN.

    Parameters
    ----------
    bitmask
        Integer APOGEE_PIXMASK array of any shape (1-D spectra are promoted to 2-D, as astroNN).
    target_bit
        Bits to mask; ``None`` means :data:`DEFAULT_TARGET_BITS` ``(0, 1, 2, 3, 4, 5, 6, 7, 12)``.
    drop_bit
        Bits to remove from ``target_bit`` (keep those pixels even if flagged with them).

    Raises
    ------
    InputValidationError
        Non-integer bitmask (e.g. float arrays with fractional values) or invalid bit numbers.
    """
    arr = np.asarray(bitmask)
    if arr.dtype == bool:
        raise InputValidationError("bitmask must be an integer array, got a boolean array")
    if not np.issubdtype(arr.dtype, np.integer):
        # FITS readers sometimes hand back float arrays; accept them only when they hold integers
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise InputValidationError(f"bitmask must hold integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
    target = bits_to_value(target_bit if target_bit is not None else DEFAULT_TARGET_BITS)
    if drop_bit is not None:
        target &= ~bits_to_value(drop_bit)
    arr = np.atleast_2d(arr).astype(np.int64, copy=False)
    return (arr & target) != 0


def bitmask_decompositor(bit: int) -> np.ndarray | None:
    """Decompose one bitmask value into its set bits, sorted ascending (``129 -> array([0, 7])``).

    Returns ``None`` for 0 (a good pixel has no bit to decompose), as astroNN does.

    Raises
    ------
    InputValidationError
        Negative or non-integer value.
    """
    if isinstance(bit, (bool, np.bool_)) or not isinstance(bit, (int, np.integer)):
        # allow integral floats (e.g. from a FITS table) but nothing fractional
        if isinstance(bit, (float, np.floating)) and float(bit).is_integer():
            bit = int(bit)
        else:
            raise InputValidationError(f"bitmask value must be an integer, got {bit!r}")
    value = int(bit)
    if value < 0:
        raise InputValidationError(f"bitmask value {value} is negative; it cannot come from a bitmask")
    if value == 0:
        return None
    return np.array([i for i in range(value.bit_length()) if (value >> i) & 1], dtype=np.int64)


def bitmask_names(bit: int) -> list[str]:
    """Names of the APOGEE_PIXMASK bits set in ``bit`` (``"BIT<n>"`` for bits without a name)."""
    bits = bitmask_decompositor(bit)
    return [] if bits is None else [APOGEE_PIXMASK_BITS.get(int(b), f"BIT{int(b)}") for b in bits]


__all__ = [
    "APOGEE_PIXMASK_BITS",
    "DEFAULT_TARGET_BITS",
    "bitmask_boolean",
    "bitmask_decompositor",
    "bitmask_names",
    "bits_to_value",
]
