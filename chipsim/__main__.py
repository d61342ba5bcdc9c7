import sys

from chipsim.cli import main

sys.exit(main())
