"""``python -m pulsetrain`` runs the ``pulsetrain`` command."""

import sys

from pulsetrain.cli import main

sys.exit(main())
