"""``python -m vsseg_core`` is the ``vsseg`` command."""

import sys

from vsseg_core.cli.main import main

sys.exit(main())
