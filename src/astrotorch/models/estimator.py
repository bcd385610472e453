"""What makes :class:`~astrotorch.models.base.AstroModel` a well-behaved scikit-learn estimator:
parameter introspection and validated ``set_params``, tags (regressor or classifier by ``task``),
fitted state in attributes ending with ``_`` (old names kept as properties), ``classes_``, pickling
without the Trainer, and ``fit``'s isolation (seeded global RNGs restored afterwards) and rollback (a
failed or interrupted ``fit`` leaves the model as it was).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from astrotorch.errors import InputValidationError, NotFittedError
from astrotorch.models.hyperparams import param_defaults, param_names


def fitted_alias(attr: str, doc: str) -> property:
    """A read/write property for an old attribute name whose value lives in ``attr`` (``network`` →
    ``network_``): scikit-learn keeps fitted state in names ending with ``_``."""
    return property(lambda self: getattr(self, attr), lambda self, value: setattr(self, attr, value), doc=doc)


def guard_fit(fit: Any) -> Any:
    """Run ``fit`` with isolated seeded RNGs and restore the model's state if it raises; inner
    (``super().fit``) calls run as they are."""

    @functools.wraps(fit)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._fit_depth:
            return fit(self, *args, **kwargs)
        from astrotorch.train.trainer import isolated_rng

        with self._restore_on_failure(), isolated_rng(self.seed):
            self._fit_depth = 1
            try:
                return fit(self, *args, **kwargs)
            finally:
                self._fit_depth = 0

    guarded._astrotorch_guarded = True  # type: ignore[attr-defined]
    return guarded


class EstimatorMixin(BaseEstimator):
    """scikit-learn protocol and fit control flow (part of AstroModel; see the module docstring)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fit = vars(cls).get("fit")
        if fit is not None and not getattr(fit, "_astrotorch_guarded", False):
            cls.fit = guard_fit(fit)  # type: ignore[method-assign]

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return param_names(cls)

    _param_names = _get_param_names  # older name

    def set_params(self, **params: Any) -> Any:
        """Set hyper-parameters (validated as in ``__init__``; an invalid value changes nothing)."""
        known = self._get_param_names()
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise InputValidationError(f"{type(self).__name__} has no hyper-parameter {unknown[0]!r}; valid: {known}")
        old = {k: getattr(self, k) for k in params}
        for k, v in params.items():
            setattr(self, k, v)
        try:
            type(self)(**self.get_params(deep=False))  # the constructor is the validator
        except Exception:
            for k, v in old.items():
                setattr(self, k, v)
            raise
        return self

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        defaults = param_defaults(type(self))
        changed = []
        for k, v in self.get_params(deep=False).items():
            d = defaults.get(k, object())
            try:
                same = bool(d == v) and type(d) is type(v)
            except Exception:  # arrays compare element-wise
                same = False
            if not same:
                changed.append(f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, RegressorTags

        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = bool(self.allow_nan_input)
        tags.target_tags.required = True
        if self.task == "classification":
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        else:
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
            tags.target_tags.multi_output = True
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        try:
            self._check_fitted()
        except NotFittedError:
            return False
        return True

    def __getstate__(self) -> dict[str, Any]:
        # the Lightning Trainer (data loaders, workers) is a training artefact: not copied or pickled
        state = dict(super().__getstate__())  # object.__getstate__ hands out the live __dict__
        state.pop("trainer_", None)
        state.pop("_recorder", None)
        return state

    @property
    def classes_(self) -> np.ndarray:
        """Class labels in output order (classification): the values of ``y`` (see models/labels.py)."""
        classes = self._fitted_classes() if self.task == "classification" else None
        if classes is None:
            raise AttributeError(f"{type(self).__name__} has no classes_ (not a fitted classifier)")
        return classes

    def _fitted_classes(self) -> np.ndarray | None:
        if self._classes is not None:
            return self._classes
        return np.arange(int(self.output_dim)) if self.output_dim else None  # subclasses that never set them

    def _set_n_features_in(self) -> None:
        shape = self.input_shape
        if isinstance(shape, tuple) and shape:
            self.n_features_in_ = int(np.prod(shape))

    @contextlib.contextmanager
    def _restore_on_failure(self) -> Iterator[None]:
        """If the block raises (Ctrl-C included), put every attribute and the weights back."""
        saved = dict(vars(self))
        net = self.network
        weights = None if net is None else {k: v.detach().clone() for k, v in net.state_dict().items()}
        try:
            yield
        except BaseException:
            vars(self).clear()
            vars(self).update(saved)
            if net is not None and weights is not None:
                net.load_state_dict(weights)
            raise


__all__ = ["EstimatorMixin", "fitted_alias", "guard_fit"]
