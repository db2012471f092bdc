"""Entry point for ``torchrun ... tests/train/ddp_worker.py ARGS``: registers the test model, then runs the
real ``rnagen`` command line (``rnagen.cli.main.main``) exactly as ``torchrun -m rnagen`` would.

``RNAGEN_TEST_GAN_CRASH_AT=K``: the WGAN-GP's rank 1 (rank 0 when alone) dies hard (``os._exit(3)``) at its K-th
critic step (0-based), like a lost machine."""
import os
import sys

from rnagen.cli.main import main

import ddp_toy  # noqa: F401  (registers "ddp-toy")


def _gan_dies_at(k: int) -> None:
    from rnagen.models.gan import network
    from rnagen.train.distributed import dist_info

    penalty, calls = network.gradient_penalty, [0]

    def dying(*args, **kwargs):
        info = dist_info()
        if calls[0] == k and info.rank == min(1, info.world_size - 1):
            os._exit(3)
        calls[0] += 1
        return penalty(*args, **kwargs)

    network.gradient_penalty = dying


if __name__ == "__main__":
    if os.environ.get("RNAGEN_TEST_GAN_CRASH_AT"):
        _gan_dies_at(int(os.environ["RNAGEN_TEST_GAN_CRASH_AT"]))
    sys.exit(main(sys.argv[1:]))
