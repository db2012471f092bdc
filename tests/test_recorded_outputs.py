"""Short seeded fits of every model and both reconstructors give the recorded outputs (``recorded_outputs.json``,
written by ``python tests/recorded_outputs.py``): the loss history, the sampling weights, profiles from each
sampler, the validation-chosen length with its refit, the reconstructions; and a fit interrupted after a
checkpoint resumes to exactly the weights and validation curve of an uninterrupted one."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import recorded_outputs as ro

RECORDED = json.loads((Path(__file__).parent / "recorded_outputs.json").read_text())

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    return ro.gtex32()


def _check(outputs: dict[str, np.ndarray], prefix: str) -> None:
    names = sorted(k for k in RECORDED if k.startswith(prefix + "/"))
    assert sorted(outputs) == names
    for k in names:
        # the shape exactly; sums and end values within float32 rounding across BLAS builds
        got = ro.summary(outputs[k])
        # the reconstructors return counts, 2^x - 1 of their log2 predictions x: a relative difference r in x
        # (float32 rounding of another CPU's BLAS kernels, through the MLP's training) becomes one of
        # ln 2 * |x| * r in the counts (x up to ~20 here), so they get 30x the tolerance of the rest
        rel = 3e-4 if k.startswith("reconstruct_") else 1e-5
        assert got == pytest.approx(RECORDED[k], rel=rel, abs=1e-6), k


@pytest.mark.parametrize("key", list(ro.CONFIGS))
def test_fit_and_samples_are_the_recorded_ones(key, data):
    _check(ro.model_outputs(key, ro.fit(key, data)), key)


def test_validated_fit_with_refit_is_the_recorded_one(data, tmp_path):
    _check(ro.validated_outputs(ro.fit("diffusion", data, run_dir=tmp_path, overrides=ro.VALIDATED)), "validated")


@pytest.mark.parametrize("method", ["linear", "mlp"])
def test_reconstruction_is_the_recorded_one_and_survives_save_load(method, tmp_path):
    import rnagen.reconstruct as rc

    train, test, inputs = ro.reconstruction_problem()
    rec, out = ro.reconstruct_outputs(method, train, test, inputs)
    _check(out, f"reconstruct_{method}")
    assert type(rec) is {"linear": rc.LinearReconstructor, "mlp": rc.MLPReconstructor}[method]
    assert type(rc.Reconstructor(rc.ReconstructConfig(method=method))) is type(rec)
    rec.save(tmp_path / "rec")
    again = rc.load(tmp_path / "rec", device="cpu")
    assert type(again) is type(rec) and again.method == method
    np.testing.assert_array_equal(again.predict(test), out[f"reconstruct_{method}/predict"].astype(np.float32))


def test_interrupted_validated_fit_resumes_to_the_same_weights(data, tmp_path, killed_after):
    """Killed at step 25 (checkpoint at 20, validation checks at 10 and 20), then resumed: the same curve,
    best step and weights as the uninterrupted run (the first phase, before the refit)."""
    from rnagen.models.diffusion import DiffusionObjective

    cfg = [c for c in ro.VALIDATED if c != "train.refit=true"] + ["train.patience=3"]
    full = ro.fit("diffusion", data, run_dir=tmp_path / "full", overrides=cfg)

    with killed_after(DiffusionObjective, 25):
        ro.fit("diffusion", data, run_dir=tmp_path / "run", overrides=cfg)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["step"] == 20 and [r["step"] for r in state["validation"]["curve"]] == [10, 20]
    resumed = ro.fit("diffusion", data, run_dir=tmp_path / "run", overrides=cfg)
    assert resumed.validation["curve"] == full.validation["curve"]
    assert resumed.validation["best_step"] == full.validation["best_step"]
    assert resumed.history == full.history
    np.testing.assert_array_equal(ro._weights(resumed), ro._weights(full))
