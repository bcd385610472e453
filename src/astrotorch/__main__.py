"""``python -m astrotorch`` runs the command line."""

from astrotorch.cli.main import main

main()
