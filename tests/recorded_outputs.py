"""Exact outputs of short, seeded fits of every model and of both reconstructors, for refactoring checks.

:func:`record` trains each generator for a few dozen steps on 32 genes of the bundled GTEx subset (one
torch thread, fixed seeds) and returns, by name, the arrays a user could observe: the loss history, the
sampling weights, profiles drawn with each sampler (DDPM, DDIM with eta 0 and 0.5, DPM-Solver++, guided and
clipped DDIM), the validation record of a validation-chosen fit with a refit, and the predictions of a
linear and an MLP reconstructor.

``python tests/recorded_outputs.py OUT.json`` writes the SHA-256 of every array (a bitwise fingerprint
for one machine and torch build) and the summary numbers that ``tests/test_recorded_outputs.py`` compares
within float tolerance.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

# the diffusion settings the values were recorded with (a fixed length, cosine decay, EMA 0.995, DDIM for the
# validation draws, no autoguidance guide: tests/models/diffusion/test_autoguidance.py has its own checks; no
# per-gene affine path: tests/models/diffusion/test_gene_affine.py): these cases guard the code paths, not the
# defaults
SMALL = ["network.width=32", "network.depth=1", "schedule.T=100", "sample.steps=10", "sample.sampler=ddim",
         "train.lr_schedule=cosine", "train.ema_decay=0.995", "train.val_fraction=0", "objective.guide_fraction=0",
         "network.gene_affine=false"]
TRAIN = ["train.steps=40", "train.batch_size=64", "train.checkpoint_every=10", "train.log_every=10"]
CONFIGS: dict[str, tuple[str, list[str]]] = {
    "diffusion": ("diffusion", SMALL + TRAIN),
    # the other branches of the objective and of the learning-rate schedule
    "diffusion_eps": ("diffusion", SMALL + TRAIN + [
        "objective.prediction=eps", "objective.loss_weighting=min_snr", "objective.antithetic=false",
        "train.lr_schedule=onecycle", "train.steps=30"]),
    "vae": ("vae", ["network.hidden=[32]", "network.latent_dim=4"] + TRAIN),
    # without output noise: all profiles trained on, the generator's outputs as they are
    "wgan-gp": ("wgan-gp", ["network.generator_hidden=[32]", "network.critic_hidden=[32]", "sample.noise=0"] + TRAIN),
    "gaussian": ("gaussian", []),
}
#: a fit whose length is chosen on held-out profiles, then refitted on all of them
VALIDATED = SMALL + TRAIN + ["train.val_fraction=0.1", "train.val_every=10", "train.patience=2", "train.refit=true"]
DIFFUSION_SAMPLERS = {
    "ddpm": {"sampler": "ddpm"},
    "ddim_eta0": {"sampler": "ddim", "eta": 0.0},
    "ddim_eta05": {"sampler": "ddim", "eta": 0.5},
    "dpmpp": {"sampler": "dpm++", "spacing": "logsnr"},
    "ddim_guided": {"sampler": "ddim", "eta": 0.0, "guidance": 1.0, "clip_x0": 2.0, "steps": 7},
}


def gtex32():
    from rnagen import datasets

    return datasets.gtex26()[:, :32].copy()


def _weights(model) -> np.ndarray:
    tensors = model._state_tensors()
    return np.concatenate([np.asarray(v.detach().cpu().double().reshape(-1) if hasattr(v, "detach") else v,
                                      dtype=np.float64).reshape(-1) for _, v in sorted(tensors.items())])


def _history(model) -> np.ndarray:
    keys = sorted({k for row in model.history for k in row})
    return np.array([[row.get(k, np.nan) for k in keys] for row in model.history], dtype=np.float64)


def fit(key: str, data, *, run_dir: Path | None = None, overrides: list[str] | None = None):
    from rnagen.models import get_model

    name, cfg = CONFIGS[key] if overrides is None else ("diffusion", overrides)
    model = get_model(name).from_config(overrides=cfg)
    return model.fit(data, label_key="tissue", seed=3, device="cpu", progress=False, run_dir=run_dir)


def model_outputs(key: str, model) -> dict[str, np.ndarray]:
    out = {f"{key}/weights": _weights(model)}
    if model.history:
        out[f"{key}/history"] = _history(model)
    options = DIFFUSION_SAMPLERS if key.startswith("diffusion") else {"default": {}}
    for sname, opts in options.items():
        syn = model.sample(n_per_label=2, seed=11, progress=False, **opts)
        out[f"{key}/sample_{sname}"] = np.asarray(syn.X, dtype=np.float64)
    return out


def validated_outputs(model) -> dict[str, np.ndarray]:
    v = model.validation
    curve = np.array([[r["step"], r["score"], r["density"], r["coverage"], r["aa_ts"]] for r in v["curve"]])
    return {"validated/weights": _weights(model), "validated/curve": curve,
            "validated/choice": np.array([v["steps"], v["best_step"], v["refit_steps"], v["n_val"]], dtype=float),
            "validated/sample_ddim": np.asarray(model.sample(n_per_label=1, seed=2, progress=False).X, np.float64)}


def reconstruction_problem():
    """120 profiles of 10 input and 30 target genes (targets a noisy linear map of the inputs), in TPM-like
    units, split 90 / 30."""
    import anndata as ad
    import pandas as pd

    rng = np.random.default_rng(7)
    n, p, q = 120, 10, 30
    Z = rng.normal(size=(n, p))
    T = Z @ rng.normal(size=(p, q)) * 0.3 + 0.5 * rng.normal(size=(n, q))
    X = np.exp2(np.concatenate([Z, T], axis=1) + 8.0) - 1.0
    names = [f"g{i:02d}" for i in range(p + q)]
    obs = pd.DataFrame({"group": pd.Categorical(np.where(np.arange(n) % 2 == 0, "a", "b"))},
                       index=[f"s{i:03d}" for i in range(n)])
    full = ad.AnnData(X=X.astype(np.float32), obs=obs, var=pd.DataFrame(index=pd.Index(names)))
    return full[:90].copy(), full[90:].copy(), names[:p]


def reconstruct_outputs(method: str, train, test, inputs):
    import rnagen.reconstruct as rc

    over = ["mlp.hidden=[16]", "mlp.max_epochs=6", "mlp.batch_size=32"] if method == "mlp" else None
    rec = rc.fit(train, inputs=inputs, method=method, label_key="group", overrides=over, device="cpu")
    return rec, {f"reconstruct_{method}/predict": rec.predict(test).astype(np.float64),
                 f"reconstruct_{method}/apply": np.asarray(rec.apply(test).X, dtype=np.float64)}


def record(tmp: Path) -> dict[str, np.ndarray]:
    """Every recorded output, by name (``tmp``: a scratch folder for the validated fit's run folder)."""
    import torch

    torch.set_num_threads(1)
    data = gtex32()
    out: dict[str, np.ndarray] = {}
    for key in CONFIGS:
        out.update(model_outputs(key, fit(key, data)))
    out.update(validated_outputs(fit("diffusion", data, run_dir=tmp / "validated", overrides=VALIDATED)))
    train, test, inputs = reconstruction_problem()
    for method in ("linear", "mlp"):
        out.update(reconstruct_outputs(method, train, test, inputs)[1])
    return out


def summary(a: np.ndarray) -> list[float]:
    """Numbers compared within tolerance: the shape, sum, sum of squares, and the first and last entries."""
    f = np.nan_to_num(np.asarray(a, dtype=np.float64).reshape(-1), nan=0.0)
    return [float(x) for x in (*a.shape, f.sum(), (f * f).sum(), f[0], f[-1])]


def sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float64).tobytes()).hexdigest()


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        arrays = record(Path(d))
    Path(sys.argv[1]).write_text(json.dumps({k: {"sha256": sha(v), "summary": summary(v)}
                                             for k, v in arrays.items()}, indent=1))
