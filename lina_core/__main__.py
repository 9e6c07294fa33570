"""`python -m lina_core <command>` (see lina_core.cli)."""
import sys

from .cli import main

sys.exit(main())
