"""`python -m evaluation` runs the evaluation command line."""

from evaluation.cli import main

if __name__ == "__main__":
    main()
