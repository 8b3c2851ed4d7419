"""``python -m load SCENARIO``: the same as ``orders load SCENARIO``."""

import sys

from load.runner import main

sys.exit(main())
