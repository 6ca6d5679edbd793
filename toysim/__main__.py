"""``python -m toysim``: see :mod:`toysim.cli`."""

import sys

from toysim.cli import main

sys.exit(main())
