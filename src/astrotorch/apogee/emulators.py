"""Published per-pixel neural emulators of APOGEE spectra as torch modules.

The binspec networks (El-Badry et al. 2018; "binspec++" by Ting & El-Badry) were trained on *real*
continuum-normalised APOGEE spectra: one small network per pixel of the 7,214-pixel DR12 ASPCAP grid
maps a few stellar labels to the flux of that pixel::

    s = (labels − x_min) / (x_max − x_min) − 0.5
    flux[p] = Σ_k w_array_1[p, k] · sigmoid(Σ_j w_array_0[p, k, j] s_j + b_array_0[p, k]) + b_array_1[p]

:func:`load_emulator` reads that ``.npz`` layout (arrays ``w_array_0`` (P, K, J), ``b_array_0`` (P, K),
``w_array_1`` (P, K), ``b_array_1`` (P,), ``x_min``/``x_max`` (J,)) into a :class:`SpectralEmulator`:
batched, differentiable (autograd and an analytic Jacobian), any float dtype (float32, bfloat16,
float64) on any device. Label names and order come from the file's ``label_names`` array when it has
one, otherwise from the published layouts (5 labels: Teff, log g, [Fe/H], [Mg/Fe], v_macro; 4 labels,
the un-normalised flux network: Teff, log g, [Fe/H], [Mg/Fe]); the valid range of each label is
``x_min``–``x_max`` of the file (the extremes of the network's training set).

The files are not shipped with astrotorch: :func:`load_emulator` takes a path, or a name
(:data:`EMULATOR_FILES`) looked up in ``<data_home>/apogee_emulators/`` and in the shared real-data
folder (``$ASTROTORCH_SHARED_DATA``/``apogee_emulators``, by default ``../shared/data`` beside the
checkout). Pixels the networks do not model well (the ASPCAP mask, ``apogee/apogee_mask.npz``) are
held in ``SpectralEmulator.pixel_mask`` when that file is found.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from astrotorch.errors import ConfigError, DataFormatError, InputValidationError, ShapeMismatchError

#: emulator names -> file name in the ``apogee_emulators`` data folder
EMULATOR_FILES: dict[str, str] = {
    "binspec_plus": "binspec_plus_NN_normalized_spectra.npz",
    "binspec_plus_unnormalized": "binspec_plus_NN_unnormalized_spectra.npz",
    "binspec": "binspec_NN_normalized_spectra.npz",
}
#: label names of the published layouts, by number of labels
_LAYOUT_LABELS: dict[int, tuple[str, ...]] = {
    5: ("teff", "logg", "Fe_H", "Mg_Fe", "vmacro"),
    4: ("teff", "logg", "Fe_H", "Mg_Fe"),
}
#: units of the labels (Teff in K, v_macro in km/s, the rest in dex)
LABEL_UNITS: dict[str, str] = {"teff": "K", "logg": "dex", "Fe_H": "dex", "Mg_Fe": "dex", "vmacro": "km/s"}
_ARRAYS = ("w_array_0", "b_array_0", "w_array_1", "b_array_1", "x_min", "x_max")
#: number of pixels of the DR12 ASPCAP grid the published networks predict
N_PIXELS_DR12: int = 7214


class SpectralEmulator(nn.Module):
    """Labels → flux on the 7,214-pixel DR12 grid, one sigmoid network per pixel (binspec layout).

    Parameters
    ----------
    w_array_0, b_array_0, w_array_1, b_array_1, x_min, x_max
        The network arrays (shapes in the module docs).
    label_names
        One name per label, in the network's input order.
    normalized
        True for continuum-normalised flux; False for the un-normalised network (its output is
        ``1e6 · f`` in the network's own surface-flux units).
    name
        A short name (the file's key in :data:`EMULATOR_FILES`, or the file stem).
    pixel_mask
        Optional bool (P,): pixels the network does not model well (True = do not use).

    ``forward(labels)`` takes ``(N, J)`` (or ``(J,)``) labels in physical units and returns ``(N, P)``
    flux in the module's dtype; it does not check the range (use :meth:`check_labels`, or
    :meth:`flux`, which does). Labels are scaled in float32 or float64 before the cast to the weights'
    dtype, so a bfloat16 emulator does not round Teff to 16 K.
    """

    def __init__(self, w_array_0: Any, b_array_0: Any, w_array_1: Any, b_array_1: Any, x_min: Any, x_max: Any,
                 label_names: Sequence[str], normalized: bool = True, name: str = "",
                 pixel_mask: np.ndarray | None = None) -> None:
        super().__init__()
        w0 = np.asarray(w_array_0, dtype=np.float32)
        if w0.ndim != 3:
            raise ShapeMismatchError(f"w_array_0 must be (pixels, hidden, labels), got shape {w0.shape}")
        n_pix, n_hidden, n_lab = w0.shape
        expect = {"b_array_0": (n_pix, n_hidden), "w_array_1": (n_pix, n_hidden), "b_array_1": (n_pix,),
                  "x_min": (n_lab,), "x_max": (n_lab,)}
        arrays = {"b_array_0": b_array_0, "w_array_1": w_array_1, "b_array_1": b_array_1, "x_min": x_min, "x_max": x_max}
        for key, shape in expect.items():
            if np.shape(arrays[key]) != shape:
                raise ShapeMismatchError(f"{key} has shape {np.shape(arrays[key])}; expected {shape} for w_array_0 {w0.shape}")
        names = [str(n) for n in label_names]
        if len(names) != n_lab or len(set(names)) != n_lab:
            raise InputValidationError(f"label_names must be {n_lab} distinct names, got {names}")
        lo, hi = np.asarray(x_min, np.float64), np.asarray(x_max, np.float64)
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi > lo)):
            raise InputValidationError(f"x_max must exceed x_min for every label, got x_min={lo}, x_max={hi}")
        self.label_names: list[str] = names
        self.normalized = bool(normalized)
        self.name = str(name)
        self.x_min = lo
        self.x_max = hi
        # (hidden, labels, pixels) so each hidden unit is one small GEMM with a contiguous (N, P) output
        self.register_buffer("w0", torch.from_numpy(np.ascontiguousarray(w0.transpose(1, 2, 0))))
        self.register_buffer("b0", torch.from_numpy(np.ascontiguousarray(np.asarray(b_array_0, np.float32).T)))
        self.register_buffer("w1", torch.from_numpy(np.ascontiguousarray(np.asarray(w_array_1, np.float32).T)))
        self.register_buffer("b1", torch.from_numpy(np.asarray(b_array_1, np.float32).copy()))
        if pixel_mask is not None:
            pixel_mask = np.asarray(pixel_mask, dtype=bool)
            if pixel_mask.shape != (n_pix,):
                raise ShapeMismatchError(f"pixel_mask has shape {pixel_mask.shape}; the emulator has {n_pix} pixels")
        self.pixel_mask: np.ndarray | None = pixel_mask

    # ------------------------------------------------------------------ description
    @property
    def n_pixels(self) -> int:
        """Number of output pixels."""
        return int(self.b1.shape[0])

    @property
    def n_labels(self) -> int:
        """Number of input labels."""
        return len(self.label_names)

    @property
    def label_units(self) -> list[str]:
        """Unit of each label (``""`` when unknown)."""
        return [LABEL_UNITS.get(n, "") for n in self.label_names]

    @property
    def wavelength(self) -> np.ndarray | None:
        """Vacuum wavelength (Å) of each output pixel (the DR12 gap-deleted grid), or None for other grids."""
        if self.n_pixels != N_PIXELS_DR12:
            return None
        from astrotorch.apogee.chips import gap_deleted_wavelength

        return gap_deleted_wavelength(12)

    def extra_repr(self) -> str:
        ranges = ", ".join(f"{n} [{a:.4g}, {b:.4g}]" for n, a, b in zip(self.label_names, self.x_min, self.x_max))
        return f"name={self.name!r}, pixels={self.n_pixels}, normalized={self.normalized}, labels: {ranges}"

    # ------------------------------------------------------------------ labels
    def check_labels(self, labels: Any, name: str = "labels") -> np.ndarray:
        """Validate labels (shape, finite, inside the valid range); returns them as float64 ``(N, J)``.

        Raises :class:`InputValidationError` naming the first label outside its range (and the row),
        :class:`ShapeMismatchError` for a wrong number of labels.
        """
        arr = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else labels
        try:
            arr = np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputValidationError(f"{name} must be numbers, got {type(labels).__name__}: {exc}") from exc
        arr = np.atleast_2d(arr)
        if arr.ndim != 2 or arr.shape[1] != self.n_labels:
            raise ShapeMismatchError(f"{name} must have shape (N, {self.n_labels}) for labels {self.label_names}, "
                                     f"got {np.shape(labels)}")
        bad = ~np.isfinite(arr)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise InputValidationError(f"{name}[{i}] has a non-finite {self.label_names[j]}")
        tol = 1e-6 * (self.x_max - self.x_min)
        out = (arr < self.x_min - tol) | (arr > self.x_max + tol)
        if out.any():
            i, j = np.argwhere(out)[0]
            raise InputValidationError(
                f"{name}[{i}]: {self.label_names[j]} = {arr[i, j]:.6g} is outside the valid range "
                f"[{self.x_min[j]:.6g}, {self.x_max[j]:.6g}] of emulator {self.name!r} ({int(out.any(axis=1).sum())} "
                f"of {arr.shape[0]} rows out of range)")
        return arr

    def scale(self, labels: torch.Tensor) -> torch.Tensor:
        """Labels in physical units → the network's scaled inputs ``(labels − x_min)/(x_max − x_min) − 0.5``."""
        work = labels.dtype if labels.dtype in (torch.float32, torch.float64) else torch.float32
        lo = torch.as_tensor(self.x_min, dtype=work, device=labels.device)
        rng = torch.as_tensor(self.x_max - self.x_min, dtype=work, device=labels.device)
        return (labels.to(work) - lo) / rng - 0.5

    # ------------------------------------------------------------------ evaluation
    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        squeeze = labels.dim() == 1
        s = self.scale(labels.unsqueeze(0) if squeeze else labels).to(self.w0.dtype)
        if torch.is_grad_enabled():  # autograd / torch.func transforms: out-of-place ops only
            out = self.b1 + sum(torch.sigmoid(s @ self.w0[k] + self.b0[k]) * self.w1[k] for k in range(self.w0.shape[0]))
        else:  # inference: in-place over one (N, P) buffer per hidden unit
            out = self.b1.expand(s.shape[0], -1).clone()
            for k in range(self.w0.shape[0]):
                z = torch.addmm(self.b0[k], s, self.w0[k])
                out.addcmul_(torch.sigmoid_(z), self.w1[k])
        return out[0] if squeeze else out

    def flux_and_jacobian(self, labels: torch.Tensor, scaled: bool = False, label_major: bool = False
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """Flux ``(N, P)`` and its analytic Jacobian ``∂flux/∂labels``, without an autograd graph.

        The Jacobian is ``(N, P, J)`` per physical label unit; ``scaled=True`` gives it per unit of the
        scaled input (``x_max − x_min`` times larger); ``label_major=True`` returns it as ``(J, N, P)``
        (contiguous per label: what a least-squares fit needs). Tested against ``torch.func``; a
        fraction of the cost of autograd.
        """
        with torch.no_grad():
            s = self.scale(labels).to(self.w0.dtype)
            flux = self.b1.expand(s.shape[0], -1).clone()
            jac = torch.zeros(self.n_labels, s.shape[0], self.n_pixels, dtype=s.dtype, device=s.device)
            for k in range(self.w0.shape[0]):
                sig = torch.sigmoid_(torch.addmm(self.b0[k], s, self.w0[k]))
                flux.addcmul_(sig, self.w1[k])
                g = sig.mul_(1.0 - sig).mul_(self.w1[k])  # ∂flux/∂z_k (sig is not needed after this)
                for j in range(self.n_labels):
                    jac[j].addcmul_(g, self.w0[k, j])
            if not scaled:
                jac *= torch.as_tensor(1.0 / (self.x_max - self.x_min), dtype=s.dtype, device=s.device)[:, None, None]
        return flux, (jac if label_major else jac.permute(1, 2, 0))

    @torch.no_grad()
    def flux(self, labels: Any, batch_size: int = 256, check: bool = True) -> np.ndarray:
        """Noise-free flux ``(N, P)`` float32 numpy for labels in physical units, in batches (no autograd).

        ``check``: validate the labels first (:meth:`check_labels`).
        """
        arr = self.check_labels(labels) if check else np.atleast_2d(np.asarray(labels, dtype=np.float64))
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InputValidationError(f"batch_size must be a positive integer, got {batch_size!r}")
        device = self.b1.device
        out = np.empty((arr.shape[0], self.n_pixels), dtype=np.float32)
        for start in range(0, arr.shape[0], batch_size):
            lab = torch.as_tensor(arr[start:start + batch_size], dtype=torch.float64, device=device)
            out[start:start + batch_size] = self(lab).float().cpu().numpy()
        return out


# ---------------------------------------------------------------------------------------------- loading
def _search_dirs() -> list[Path]:
    from astrotorch.config import get_config

    cfg = get_config()
    dirs = [cfg.data_home / "apogee_emulators"]
    if cfg.shared_data is not None:
        dirs.append(cfg.shared_data / "apogee_emulators")
    return dirs


def emulator_path(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve an emulator name (:data:`EMULATOR_FILES`) or path to an existing ``.npz`` file.

    A path (anything naming an existing file, or containing a path separator or ending in ``.npz``) is
    used as given; a name is looked up in ``<data_home>/apogee_emulators/`` and the shared data folder.
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_file() or os.sep in text or text.endswith(".npz"):
        if not path.exists():
            raise FileNotFoundError(f"emulator file {path} does not exist")
        if not path.is_file():
            raise DataFormatError(f"emulator path {path} is not a regular file")
        return path
    if text not in EMULATOR_FILES:
        raise InputValidationError(f"unknown emulator {text!r}: give a path to an .npz file or one of {sorted(EMULATOR_FILES)}")
    candidates = [d / EMULATOR_FILES[text] for d in _search_dirs()]
    for cand in candidates:
        if cand.is_file():
            return cand
    raise ConfigError(
        f"emulator {text!r} ({EMULATOR_FILES[text]}) not found; looked in {[str(c.parent) for c in candidates]}. "
        "astrotorch does not ship it: pass its path, put it in <data_home>/apogee_emulators/, or set "
        "$ASTROTORCH_SHARED_DATA to the folder holding apogee_emulators/")


def load_pixel_mask(path: str | os.PathLike[str] | None = None) -> np.ndarray:
    """The ASPCAP pixel mask of the DR12 grid (bool, 7,214; True = pixel to ignore), ``apogee/apogee_mask.npz``."""
    from astrotorch.apogee.chips import _resolve_astronn_file

    p = _resolve_astronn_file("apogee_mask.npz", path)
    try:
        with np.load(p, allow_pickle=False) as d:
            mask = np.asarray(d[d.files[0]] if "apogee_mask" not in d.files else d["apogee_mask"])
    except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{p} is not a readable pixel-mask .npz file: {exc}") from exc
    if mask.shape != (N_PIXELS_DR12,) or mask.dtype != bool:
        raise DataFormatError(f"{p}: expected a boolean mask of {N_PIXELS_DR12} pixels, got {mask.dtype} {mask.shape}")
    return mask


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as d:
            files = list(d.files)
            missing = [k for k in _ARRAYS if k not in files]
            if missing:
                raise DataFormatError(f"{path} is not an emulator file: it lacks arrays {missing} (has {files})")
            out = {k: np.asarray(d[k]) for k in _ARRAYS}
            if "label_names" in files:
                out["label_names"] = np.asarray(d["label_names"])
    except DataFormatError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{path} is not a readable .npz emulator file (corrupt, truncated or pickled?): {exc}") from exc
    for key in _ARRAYS:
        a = out[key]
        if not np.issubdtype(a.dtype, np.floating) or not np.all(np.isfinite(a)):
            raise DataFormatError(f"{path}: array {key} must hold finite floats (dtype {a.dtype})")
    return out


def load_emulator(name_or_path: str | os.PathLike[str] = "binspec_plus", dtype: torch.dtype = torch.float32,
                  device: str | torch.device | None = None, pixel_mask: Any = "auto",
                  normalized: bool | None = None) -> SpectralEmulator:
    """Load a published emulator (``"binspec_plus"``, ``"binspec"``, ``"binspec_plus_unnormalized"``) or an ``.npz`` path.

    Parameters
    ----------
    name_or_path
        A name of :data:`EMULATOR_FILES` or a path to a file of the same layout.
    dtype, device
        Of the returned module (``torch.bfloat16`` works; the labels are scaled in float32 first).
    pixel_mask
        ``"auto"``: the ASPCAP mask (``apogee/apogee_mask.npz``) when it can be found, else None; None;
        a path; or a bool array of the emulator's pixels.
    normalized
        Whether the network predicts continuum-normalised flux; default: from the name (files whose
        name contains ``unnormalized`` are not).

    Raises
    ------
    DataFormatError
        Malformed file: not an .npz, arrays missing, non-finite values, shapes that do not fit together,
        a pixel count other than the DR12 grid's 7,214.
    ConfigError
        A name whose file is not in any data folder.
    """
    path = emulator_path(name_or_path)
    arrays = _read_npz(path)
    n_lab = int(arrays["x_min"].shape[0]) if arrays["x_min"].ndim == 1 else -1
    if "label_names" in arrays:
        names = [str(n) for n in arrays["label_names"].ravel()]
    elif n_lab in _LAYOUT_LABELS:
        names = list(_LAYOUT_LABELS[n_lab])
    else:
        raise DataFormatError(f"{path}: {n_lab} labels and no label_names array; the published layouts have 4 or 5 labels")
    if arrays["w_array_0"].ndim != 3 or arrays["w_array_0"].shape[0] != N_PIXELS_DR12:
        raise DataFormatError(f"{path}: w_array_0 has shape {arrays['w_array_0'].shape}; an APOGEE emulator predicts "
                              f"the {N_PIXELS_DR12}-pixel DR12 grid, (7214, hidden, labels)")
    key = next((k for k, v in EMULATOR_FILES.items() if v == path.name), path.stem)
    if normalized is None:
        normalized = "unnormalized" not in path.name.lower()
    if isinstance(pixel_mask, str) and pixel_mask == "auto":
        try:
            mask = load_pixel_mask()
        except ConfigError:
            mask = None
    elif pixel_mask is None or isinstance(pixel_mask, np.ndarray):
        mask = pixel_mask
    else:
        mask = load_pixel_mask(pixel_mask)
    try:
        emu = SpectralEmulator(arrays["w_array_0"], arrays["b_array_0"], arrays["w_array_1"], arrays["b_array_1"],
                               arrays["x_min"], arrays["x_max"], names, normalized=normalized, name=key, pixel_mask=mask)
    except InputValidationError as exc:  # shapes or ranges that do not fit together: the file is malformed
        raise DataFormatError(f"{path}: {exc}") from exc
    return emu.to(dtype=dtype, device=device)


__all__ = ["EMULATOR_FILES", "LABEL_UNITS", "N_PIXELS_DR12", "SpectralEmulator", "emulator_path", "load_emulator",
           "load_pixel_mask"]
