"""``python -m load SCENARIO``: the same as ``orders load SCENARIO``."""

import sys

from load.cli import main

sys.exit(main())
