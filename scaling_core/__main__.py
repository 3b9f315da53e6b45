"""``python -m scaling_core``: the ``scaling-core`` command line."""

import sys

from scaling_core.cli import main

sys.exit(main())
