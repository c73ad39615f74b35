"""Entry point from the project root: `python train.py [-m] [overrides]`."""

from ablab.cli.train import main

if __name__ == "__main__":
    main()
