"""Fixtures of the training tests."""
import pytest


@pytest.fixture(scope="module")
def small():
    """4 tissues x 20 profiles x 24 genes of the bundled GTEx subset (the private-training tests' data)."""
    from rnagen import datasets

    ad = datasets.gtex26()
    keep = ad.obs["tissue"].isin(sorted(ad.obs["tissue"].unique())[:4]).to_numpy()
    return ad[keep, :24].copy()


@pytest.fixture
def cli_refuses(small, tmp_path, capsys):
    """``cli_refuses(model, settings, message)``: ``rnagen train`` of ``model`` on :func:`small` with those
    ``--set`` settings exits 2 with ``message`` in one line on stderr, no traceback, and writes no weights."""
    from rnagen.cli.main import main

    def check(model: str, settings: list[str], message: str) -> None:
        data = tmp_path / "d.h5ad"
        small.write_h5ad(data)
        args = ["train", str(data), "--model", model, "--label-key", "tissue", "--out", str(tmp_path / "r"),
                "--quiet"]
        for s in settings:
            args += ["--set", s]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "r" / "weights.safetensors").exists()

    return check
