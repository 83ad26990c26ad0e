"""`python -m agent` is the same as `edge-agent`."""

import sys

from agent.cli import main

sys.exit(main())
