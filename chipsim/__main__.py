import sys

import chipsim

if not hasattr(chipsim, "__version__"):
    # `python -m chipsim` in a folder holding a checkout named chipsim/: the working directory
    # comes first on sys.path, and that folder is imported as an empty namespace package
    print(f"chipsim: error: the folder '{list(chipsim.__path__)[0]}' in the working directory "
          "hides the chipsim package from `python -m chipsim`; use the installed command "
          "`chipsim`, or run from another folder", file=sys.stderr)
    sys.exit(2)

from chipsim.cli import main  # noqa: E402

sys.exit(main())
