"""`python -m basis_strategy ...` is the `basis` command (the service spawns sessions so)."""

import sys

from basis_strategy.cli import main

sys.exit(main())
