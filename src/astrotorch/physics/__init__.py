"""Physical relations used by the physics-informed models (stellar relations in :mod:`.stellar`)."""

from astrotorch.physics.stellar import *  # noqa: F401,F403
from astrotorch.physics.stellar import __all__  # noqa: F401
