"""`python -m evaluation` runs the evaluation command line (which needs the extra [evaluation])."""

import sys

from locator.commandline import missing_extra

try:
    from evaluation.cli import main
except ModuleNotFoundError as exc:
    why = missing_extra(exc)
    if why is None:
        raise
    sys.exit(f"evaluation: error: {why}")

if __name__ == "__main__":
    main()
