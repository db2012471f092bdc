"""Entry point for ``torchrun ... tests/train/ddp_worker.py ARGS``: registers the test model, then runs the
real ``rnagen`` command line (``rnagen.cli.main.main``) exactly as ``torchrun -m rnagen`` would."""
import sys

from rnagen.cli.main import main

import ddp_toy  # noqa: F401  (registers "ddp-toy")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
