"""A small labelled CSV (written here, not bundled) and one tiny benchmark run, shared by tests/bench and
tests/report: both call :func:`tiny_bench_dir` on the same folder under pytest's base temp directory; the
second call resumes the first (nothing is retrained), which is itself what a resumed benchmark must do."""
import numpy as np
import pandas as pd

#: tiny settings so a benchmark takes seconds: a 1-block denoiser with T = 20, a light evaluation
TINY_OVERRIDES = {"diffusion": ["network.width=32", "network.depth=1", "network.time_dim=8", "train.steps=20",
                                "train.batch_size=32", "train.warmup_steps=2", "schedule.T=20", "sample.steps=10",
                                "train.checkpoint_every=10"]}
TINY_EVAL = {"n_boot": 100, "n_boot_expensive": 3, "classifier_seeds": (0,), "epochs": 3}
STEPS_GRID = (2, 5, 50)
#: the headline indicators, leaving out the slow ones (cross-validated detection, classifier Fréchet, MMD,
#: per-gene tests), whose columns stay empty here
TINY_METRICS = ("precision", "recall", "density", "coverage", "aa_ts", "aa_truth", "aa_syn", "correlation_score",
                "tstr_mlp_accuracy", "frechet_pca", "dcr_share")  # 50 > T: capped at 20


def write_labelled_csv(path, *, n_per=14, n_genes=60, classes=("alpha", "beta", "gamma"), seed=0):
    """Samples x genes CSV with a ``kind`` label column; classes differ in the mean of distinct gene blocks."""
    rng = np.random.default_rng(seed)
    genes = [f"ENSG{i:011d}" for i in range(1, n_genes + 1)]
    frames = []
    for c, name in enumerate(classes):
        mu = np.full(n_genes, 3.0)
        block = slice(c * n_genes // len(classes), (c + 1) * n_genes // len(classes))
        mu[block] += 3.0
        # correlated genes inside a class: a shared factor plus noise (log2 scale), then linear units
        f = rng.normal(0, 1, (n_per, 1))
        logx = mu + 0.4 * f * rng.uniform(0.5, 1.0, n_genes) + rng.normal(0, 0.3, (n_per, n_genes))
        frames.append(pd.DataFrame(np.exp2(logx) - 1, columns=genes).assign(kind=name))
    df = pd.concat(frames, ignore_index=True)
    df.index = [f"S{i:03d}" for i in range(len(df))]
    df.to_csv(path, index_label="sample")
    return path


def landmarks_and_full(csv, folder, *, labels_in_full: bool = False):
    """Landmark-style data and its full profiles from the labelled CSV: its first 20 genes with the ``kind``
    column as ``folder/landmarks.csv``, all its genes as ``folder/full.h5ad`` (without the labels unless
    ``labels_in_full``: they may live only in the landmark data). Returns both paths."""
    from rnagen.data import read

    full = read(csv, label_key="kind")
    small = full[:, :20].copy()
    data_csv = folder / "landmarks.csv"
    df = pd.DataFrame(small.X, index=small.obs_names, columns=small.var_names).assign(kind=small.obs["kind"].to_numpy())
    df.to_csv(data_csv, index_label="sample")
    full_path = folder / "full.h5ad"
    if not labels_in_full:
        del full.obs["kind"]
    full.write_h5ad(full_path)
    return data_csv, full_path


def tiny_bench_dir(base):
    """Benchmark of gaussian + ddpm + ddim on the CSV into ``base/tiny_bench`` (resumed if already there)."""
    import torch

    from rnagen.bench import run_benchmark

    torch.set_num_threads(min(2, torch.get_num_threads()))
    csv = base / "tiny_expr.csv"
    if not csv.is_file():
        write_labelled_csv(csv)
    out = base / "tiny_bench"
    board = run_benchmark(csv, label_key="kind", models="gaussian,ddpm,ddim", out_dir=out,
                          budget="fast", overrides=TINY_OVERRIDES, evaluate_options=TINY_EVAL, metrics=TINY_METRICS,
                          steps_grid=STEPS_GRID, progress=False, device="cpu")
    return out, board, csv
