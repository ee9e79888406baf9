"""`python -m basis_strategy ...` is the `basis` command (the service spawns sessions so)."""

import sys

from basis_strategy.cli import main

if __name__ == "__main__":  # importing the package's modules (a test walks them) runs nothing
    sys.exit(main())
