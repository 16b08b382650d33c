"""`python -m tests.bench` (what `make bench` runs)."""

import sys

from tests.bench.runner import main

sys.exit(main())
