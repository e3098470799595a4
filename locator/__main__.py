"""`python -m locator` is the `locator` command."""

from locator.cli import main

if __name__ == "__main__":
    main()
