"""Neural ODEs (astroNN's ``astroNN.neuralode``): :func:`odeint` with gradients, batched states."""

from astrotorch.neuralode.odeint import odeint

__all__ = ["odeint"]
