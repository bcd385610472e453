"""astroNN's numbers, exactly: ``astroNN.nn.losses``, ``.metrics`` and ``.numpy`` with astroNN's formulas.

astrotorch's own :mod:`astrotorch.nn.losses`, :mod:`~astrotorch.nn.metrics` and
:mod:`~astrotorch.nn.numpy` keep astroNN's names but deliberately differ in a few places (a scalar mean
over the valid entries instead of per-sample values, logits by default for the cross-entropies,
another robust cross-entropy, ``(y_true, y_pred)`` argument order in the NumPy metrics). Code ported
from astroNN that must reproduce astroNN's values imports from here instead::

    from astrotorch.nn.astronn.losses import categorical_crossentropy   # astroNN: from_logits=False
    from astrotorch.nn.astronn.numpy import mean_absolute_percentage_error  # astroNN's (x, y) order

Every function was checked against the real astroNN 1.1.0 on the same inputs
(``tests/data/astronn_nn_reference.json``, ``tests/test_astronn_nn.py``). See
``docs/MIGRATING_FROM_ASTRONN.md`` for the full list of differences.
"""

from __future__ import annotations

from astrotorch.nn.astronn import losses, metrics, numpy  # noqa: I001

__all__ = ["losses", "metrics", "numpy"]
