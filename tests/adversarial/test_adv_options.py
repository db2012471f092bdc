"""Every option of every command, given a bad value, fails cleanly before anything is written.

Each case runs ``rnagen ...`` in-process and checks the shared contract (``clean_failure``: exit status 2, one
line on stderr, no traceback, no file changed, removed or left behind) on the whole folder holding the
inputs and the trained run folders, and that the requested output path does not exist afterwards (an empty
folder is not a file, so the snapshot alone would miss it).
"""
from __future__ import annotations

import math

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen.cli.main import main
from rnagen.errors import ConfigError

DIFF_TINY = ["--set", "train.steps=2", "--set", "network.width=16", "--set", "network.depth=1",
             "--set", "network.time_dim=8", "--set", "schedule.T=10", "--set", "sample.steps=2",
             "--set", "train.batch_size=16", "--set", "train.checkpoint_every=2"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Inputs and trained run folders shared by every case: {name: path}."""
    from rnagen import datasets

    root = tmp_path_factory.mktemp("opts")
    full = datasets.gtex26()
    tissues = sorted(full.obs["tissue"].astype(str).unique())[:4]
    a = full[full.obs["tissue"].astype(str).isin(tissues), :30].copy()
    a.obs["tissue"] = a.obs["tissue"].astype(str).astype("category")
    is_test = a.obs.groupby("tissue", observed=True).cumcount().to_numpy() < 5
    paths = {"root": root, "train": root / "train.h5ad", "test": root / "test.h5ad"}
    a[~is_test].copy().write_h5ad(paths["train"])
    a[is_test].copy().write_h5ad(paths["test"])
    # a CSV copy of the test split without its label column (a --like that cannot say the label counts)
    paths["csv"] = root / "test_nolabels.csv"
    a[is_test].to_df().to_csv(paths["csv"], index_label="sample")
    paths["toml_bad"] = root / "bad.toml"
    paths["toml_bad"].write_text("[train\nlr = 1e-3\n")
    paths["toml_nan"] = root / "nan.toml"
    paths["toml_nan"].write_text("model = \"diffusion\"\n[train]\nlr = nan\n")
    paths["gauss"], paths["diff"] = root / "gauss", root / "diff"
    assert main(["train", str(paths["train"]), "--model", "gaussian", "--label-key", "tissue", "--out",
                 str(paths["gauss"]), "--quiet"]) == 0
    assert main(["train", str(paths["train"]), "--model", "diffusion", "--label-key", "tissue", "--out",
                 str(paths["diff"]), "--quiet", "--device", "cpu", *DIFF_TINY]) == 0
    paths["syn8"] = root / "syn8.h5ad"  # 8 synthetic profiles: too few for k = 8
    assert main(["sample", str(paths["gauss"]), "--n-per-label", "2", "--out", str(paths["syn8"]), "--quiet"]) == 0
    return paths


def _train(*extra, model="diffusion"):
    return ["train", "{train}", "--model", model, "--label-key", "tissue", "--out", "{out}", "--quiet", *extra]


def _sample(*extra, run="{diff}"):
    return ["sample", run, "--out", "{out}.h5ad", "--quiet", *extra]


def _evaluate(*extra):
    return ["evaluate", "--real", "{test}", "--synthetic", "{syn8}", "--train", "{train}", "--label-key",
            "tissue", "--out", "{out}.json", *extra]


def _bench(*extra):
    return ["benchmark", "{train}", "--label-key", "tissue", "--models", "gaussian", "--out", "{out}", "--quiet",
            *extra]


def _tune(*extra):
    return ["tune", "{train}", "--model", "gaussian", "--label-key", "tissue", "--out", "{out}/best.toml",
            "--quiet", *extra]


def _recon(*extra):
    return ["reconstruct", "fit", "{train}", "--inputs", "landmarks", "--out", "{out}", "--quiet", *extra]


CASES = [
    # --- train: config values through --set / --config, and the command's own options -----------------
    ("train-eps-with-cosine", _train("--set", "schedule.kind=cosine", "--set", "objective.prediction=eps"),
     "objective.prediction=v"),
    ("train-eps-with-steep-linear", _train("--set", "schedule.kind=linear", "--set", "schedule.beta_end=0.2", "--set",
                                           "objective.prediction=eps"), "samples diverge"),
    ("train-lr-inf", _train("--set", "train.lr=inf"), "train.lr"),
    ("train-lr-nan", _train("--set", "train.lr=nan"), "train.lr"),
    ("train-lr-negative", _train("--set", "train.lr=-1e-3"), "train.lr"),
    ("train-checkpoint-every-negative", _train("--set", "train.checkpoint_every=-1"), "train.checkpoint_every"),
    ("train-checkpoint-every-zero", _train("--set", "train.checkpoint_every=0"), "train.checkpoint_every"),
    ("train-steps-zero", _train("--set", "train.steps=0"), "train.steps"),
    ("train-steps-fraction", _train("--set", "train.steps=2.5"), "integer"),
    ("train-steps-string", _train("--set", "train.steps=many"), "train.steps"),
    ("train-batch-negative", _train("--set", "train.batch_size=-1"), "train.batch_size"),
    ("train-ema-one", _train("--set", "train.ema_decay=1"), "train.ema_decay"),
    ("train-weight-decay-negative", _train("--set", "train.weight_decay=-0.1"), "train.weight_decay"),
    ("train-warmup-negative", _train("--set", "train.warmup_steps=-5"), "train.warmup_steps"),
    ("train-grad-clip-inf", _train("--set", "train.grad_clip=inf"), "train.grad_clip"),
    ("train-width-zero", _train("--set", "network.width=0"), "network.width"),
    ("train-width-past-int64", _train("--set", "network.width=1e30"), "at most 2^63 - 1"),
    ("train-steps-past-int64", _train("--set", "train.steps=1e19"), "train.steps"),
    ("train-width-past-any-memory", _train("--set", "network.width=4e18"), "more than 2^64 bytes"),
    ("train-vae-hidden-past-int64", _train("--set", "network.hidden=[1e20]", model="vae"), "network.hidden"),
    ("train-dropout-above-one", _train("--set", "network.dropout=1.5"), "network.dropout"),
    ("train-beta-end-nan", _train("--set", "schedule.beta_end=nan"), "schedule.beta_end"),
    ("train-T-huge-float", _train("--set", "schedule.T=1e400"), "schedule.T"),
    ("train-T-past-a-million", _train("--set", "schedule.T=1e9"), "in [2, 1000000]"),
    ("train-label-dropout-inf", _train("--set", "objective.label_dropout=-inf"), "objective.label_dropout"),
    ("train-sample-eta-nan", _train("--set", "sample.eta=nan"), "sample.eta"),
    ("train-unknown-key", _train("--set", "train.speed=3"), "unknown config key"),
    ("train-unknown-section", _train("--set", "nosuch.key=1"), "unknown config key"),
    ("train-override-no-equals", _train("--set", "train.steps"), "key=value"),
    ("train-section-as-value", _train("--set", "train=3"), "section"),
    ("train-bad-toml", _train("--config", "{toml_bad}"), "not valid toml"),
    ("train-toml-nan", _train("--config", "{toml_nan}"), "train.lr"),
    ("train-missing-toml", _train("--config", "{root}/missing.toml"), "does not exist"),
    ("train-unknown-model", _train(model="nosuch"), "unknown model"),
    ("train-device-gpu", _train("--device", "gpu"), "cuda"),
    ("train-device-mps", _train("--device", "mps"), "cuda"),
    ("train-device-garbage", _train("--device", "cuda:x"), "auto"),
    ("train-seed-negative", _train("--seed", "-1"), "--seed"),
    ("train-seed-fraction", _train("--seed", "1.5"), "--seed"),
    ("train-seed-huge", _train("--seed", str(2**32)), "--seed"),
    ("train-unknown-option", _train("--epochs", "3"), "unrecognized arguments"),
    # a file recording no label column (a prepared one records it: train then takes it)
    ("train-no-label-key", ["train", "{csv}", "--out", "{out}"], "records no label column; pass --label-key"),
    ("split-no-label-key", ["data", "split", "{csv}", "--out", "{out}"],
     "records no label column; pass --label-key with the column holding the classes (it holds no sample column"),
    ("train-gaussian-shrinkage", _train("--set", "shrinkage=2", model="gaussian"), "shrinkage"),
    ("train-gaussian-covariance", _train("--set", "covariance=banana", model="gaussian"), "covariance"),
    ("train-vae-temperature", _train("--set", "sample.temperature=0", model="vae"), "sample.temperature"),
    ("train-vae-hidden", _train("--set", "network.hidden=[64,0]", model="vae"), "network.hidden"),
    ("train-vae-beta-nan", _train("--set", "objective.beta=nan", model="vae"), "objective.beta"),
    ("train-gan-quantile", _train("--set", "gan.copy_quantile=1", model="wgan-gp"), "gan.copy_quantile"),
    ("train-gan-lr-inf", _train("--set", "gan.lr_critic=inf", model="wgan-gp"), "gan.lr_critic"),
    ("train-gan-n-critic", _train("--set", "gan.n_critic=0", model="wgan-gp"), "gan.n_critic"),
    # --- sample ----------------------------------------------------------------------------------------------
    ("sample-eta-nan", _sample("--n", "4", "--eta", "nan"), "--eta"),
    ("sample-eta-negative", _sample("--n", "4", "--eta", "-1"), "--eta"),
    ("sample-guidance-inf", _sample("--n", "4", "--guidance", "inf"), "--guidance"),
    ("sample-guidance-negative", _sample("--n", "4", "--guidance", "-0.5"), "--guidance"),
    # far beyond Ho & Salimans' w <= 4 the profiles overflowed (a traceback, or blame put on the weights)
    ("sample-guidance-huge", _sample("--n", "4", "--guidance", "1e30"), "--guidance"),
    ("sample-steps-zero", _sample("--n", "4", "--steps", "0"), "--steps"),
    ("sample-steps-above-T", _sample("--n", "4", "--steps", "1000000"), "steps"),
    ("sample-batch-negative", _sample("--n", "4", "--batch-size", "-1"), "--batch-size"),
    ("sample-batch-zero", _sample("--n", "4", "--batch-size", "0"), "--batch-size"),
    ("sample-n-zero", _sample("--n", "0"), "--n"),
    ("sample-n-negative", _sample("--n", "-5"), "--n"),
    ("sample-n-word", _sample("--n", "many"), "--n"),
    ("sample-n-huge", _sample("--n", str(10**11)), "gib"),
    ("sample-n-per-label-zero", _sample("--n-per-label", "0"), "--n-per-label"),
    ("sample-like-missing", _sample("--like", "{root}/missing.h5ad"), "like"),
    ("sample-like-csv-without-labels", _sample("--like", "{csv}"), "like"),
    ("sample-like-folder", _sample("--like", "{root}"), "like"),
    ("sample-seed-negative", _sample("--n", "4", "--seed", "-1"), "--seed"),
    ("sample-device-gpu", _sample("--n", "4", "--device", "gpu"), "cuda"),
    ("sample-device-mps", _sample("--n", "4", "--device", "mps"), "cuda"),
    ("sample-unknown-sampler", _sample("--n", "4", "--sampler", "euler"), "invalid choice"),
    ("sample-two-counts", _sample("--n", "4", "--n-per-label", "2"), "not allowed with"),
    ("sample-no-count", _sample(), "one of the arguments"),
    ("sample-gaussian-eta", _sample("--n", "4", "--eta", "0.5", run="{gauss}"),
     "holds a gaussian model: drop --eta"),
    ("sample-gaussian-steps-guidance", _sample("--n", "4", "--steps", "5", "--guidance", "1", run="{gauss}"),
     "--steps, --guidance set the diffusion model's sampling"),
    ("sample-not-a-run", _sample("--n", "4", run="{root}/norun"), "run folder"),
    ("sample-autoguidance-from-one", _sample("--n", "4", "--autoguidance-from", "1"), "--autoguidance-from"),
    ("sample-autoguidance-to-zero", _sample("--n", "4", "--autoguidance-to", "0"), "--autoguidance-to"),
    ("sample-autoguidance-interval-empty", _sample("--n", "4", "--autoguidance-from", "0.6", "--autoguidance-to",
                                                   "0.4"), "must be below autoguidance_to"),
    ("sample-gaussian-autoguidance-to", _sample("--n", "4", "--autoguidance-to", "0.5", run="{gauss}"),
     "--autoguidance-to sets the diffusion model's sampling"),
    # --- evaluate --------------------------------------------------------------------------------------------
    ("evaluate-k-zero", _evaluate("--k", "0"), "--k"),
    ("evaluate-k-negative", _evaluate("--k", "-1"), "--k"),
    ("evaluate-k-too-large", _evaluate("--k", "8"), "k + 1"),
    ("evaluate-k-huge", _evaluate("--k", "1e9"), "k + 1"),
    ("evaluate-n-boot-negative", _evaluate("--n-boot", "-1"), "--n-boot"),
    ("evaluate-n-boot-zero", _evaluate("--n-boot", "0"), "--n-boot"),
    ("evaluate-n-boot-expensive-zero", _evaluate("--n-boot-expensive", "0"), "--n-boot-expensive"),
    ("evaluate-seed-negative", _evaluate("--seed", "-1"), "--seed"),
    ("evaluate-unknown-metric", _evaluate("--metrics", "sparkle"), "unknown metric"),
    ("evaluate-missing-synthetic", ["evaluate", "--real", "{test}", "--synthetic", "{root}/none.h5ad", "--out",
                                    "{out}.json"], "does not exist"),
    # --- benchmark -------------------------------------------------------------------------------------------
    ("bench-test-size-zero", _bench("--test-size", "0"), "--test-size"),
    ("bench-test-size-one", _bench("--test-size", "1"), "--test-size"),
    ("bench-test-size-above-one", _bench("--test-size", "1.5"), "--test-size"),
    ("bench-test-size-nan", _bench("--test-size", "nan"), "--test-size"),
    ("bench-seeds-zero", _bench("--seeds", "0"), "--seeds"),
    ("bench-unknown-metric", _bench("--metrics", "precision,fidelty"), "unknown metric(s) ['fidelty']"),
    ("bench-splits-zero", _bench("--splits", "0"), "--splits"),
    ("bench-splits-last-seed", _bench("--seed", "4294967295", "--splits", "2"), "last training's seed"),
    ("bench-splits-reconstruct", _bench("--splits", "2", "--reconstruct", "linear", "--full", "{train}"),
     "one split"),
    ("bench-seed-negative", _bench("--seed", "-1"), "--seed"),
    ("bench-budget", _bench("--budget", "turbo"), "invalid choice"),
    ("bench-set-lr-inf", _bench("--set", "gaussian:shrinkage=inf"), "shrinkage"),
    ("bench-set-diffusion-lr", ["benchmark", "{train}", "--label-key", "tissue", "--models", "ddim", "--out",
                                "{out}", "--quiet", "--set", "ddim:train.lr=nan"], "train.lr"),
    ("bench-set-no-model", _bench("--set", "train.lr=1"), "model:key=value"),
    ("bench-set-other-model", _bench("--set", "vae:train.lr=1e-3"), "vae"),
    ("bench-device-mps", _bench("--device", "mps"), "cuda"),
    ("bench-unknown-metric", _bench("--metrics", "density,sparkle"), "sparkle"),
    ("bench-full-missing", _bench("--reconstruct", "linear", "--full", "{root}/none.h5ad"), "--full"),
    ("bench-reconstruct-method", _bench("--reconstruct", "cubic", "--full", "{train}"), "cubic"),
    ("bench-unknown-row", ["benchmark", "{train}", "--label-key", "tissue", "--models", "nosuch", "--out", "{out}"],
     "nosuch"),
    # --- tune ------------------------------------------------------------------------------------------------
    ("tune-trials-zero", _tune("--trials", "0"), "--trials"),
    ("tune-val-size-one", _tune("--val-size", "1"), "--val-size"),
    ("tune-val-size-zero", _tune("--val-size", "0"), "--val-size"),
    ("tune-timeout-negative", _tune("--timeout", "-1"), "--timeout"),
    ("tune-timeout-nan", _tune("--timeout", "nan"), "--timeout"),
    ("tune-sampler-seed-negative", _tune("--sampler-seed", "-1"), "--sampler-seed"),
    ("tune-unknown-model", ["tune", "{train}", "--model", "nosuch", "--label-key", "tissue", "--out",
                            "{out}/best.toml"], "unknown model"),
    ("tune-device-gpu", _tune("--device", "gpu"), "cuda"),
    # --- reconstruct -----------------------------------------------------------------------------------------
    ("recon-val-size-one", _recon("--val-size", "1"), "--val-size"),
    ("recon-val-size-negative", _recon("--val-size", "-0.1"), "--val-size"),
    ("recon-seed-negative", _recon("--seed", "-1"), "--seed"),
    ("recon-mlp-lr-nan", _recon("--set", "mlp.lr=nan"), "mlp.lr"),
    ("recon-alphas-negative", _recon("--set", "linear.alphas=[-1.0]"), "linear.alphas"),
    ("recon-unknown-key", _recon("--set", "ridge.alpha=1"), "unknown config key"),
    ("recon-method", _recon("--method", "quadratic"), "invalid choice"),
    ("recon-device-gpu", _recon("--device", "gpu"), "cuda"),
    ("recon-apply-device", ["reconstruct", "apply", "{root}/norecon", "{test}", "--device", "mps", "--out",
                            "{out}.h5ad"], "cuda"),
    ("recon-score-device", ["reconstruct", "score", "{root}/norecon", "{test}", "--device", "gpu"], "cuda"),
    # --- data ------------------------------------------------------------------------------------------------
    ("split-test-size-zero", ["data", "split", "{train}", "--test-size", "0", "--out", "{out}"], "--test-size"),
    ("split-test-size-one", ["data", "split", "{train}", "--test-size", "1", "--out", "{out}"], "--test-size"),
    ("split-test-size-above-one", ["data", "split", "{train}", "--test-size", "1.5", "--out", "{out}"],
     "--test-size"),
    ("split-seed-negative", ["data", "split", "{train}", "--seed", "-1", "--out", "{out}"], "--seed"),
    ("prepare-min-samples-zero", ["data", "prepare", "{train}", "--min-samples", "0", "--out", "{out}.h5ad"],
     "--min-samples"),
    ("prepare-log", ["data", "prepare", "{train}", "--log", "ln", "--out", "{out}.h5ad"], "invalid choice"),
    ("prepare-normalize", ["data", "prepare", "{train}", "--normalize", "tmm", "--out", "{out}.h5ad"],
     "invalid choice"),
    ("prepare-normalize-logged", ["data", "prepare", "{train}", "--normalize", "cpm", "--out", "{out}.h5ad"],
     "log scale already"),
    ("prepare-layer-absent", ["data", "prepare", "{train}", "--layer", "counts", "--out", "{out}.h5ad"],
     "has no layer 'counts'"),
    ("prepare-layer-csv", ["data", "prepare", "{csv}", "--layer", "counts", "--out", "{out}.h5ad"],
     "--layer applies to .h5ad"),
    ("prepare-sheet-csv", ["data", "prepare", "{csv}", "--sheet", "counts", "--out", "{out}.h5ad"],
     "--sheet applies to a workbook"),
    ("prepare-sheet-bundled", ["data", "prepare", "gtex26", "--sheet", "counts", "--out", "{out}.h5ad"],
     "--sample-names and --recount-qc apply to other inputs"),
    ("prepare-recount-qc-bundled", ["data", "prepare", "gtex26", "--recount-qc", "{csv}", "--out", "{out}.h5ad"],
     "--recount-qc apply to other inputs"),
    ("prepare-recount-qc-csv", ["data", "prepare", "{csv}", "--recount-qc", "{csv}", "--out", "{out}.h5ad"],
     "--recount-qc applies to recount3's gene or exon sums"),
    ("prepare-coverage-csv", ["data", "prepare", "{csv}", "--quantity", "coverage", "--out", "{out}.h5ad"],
     "--quantity coverage applies to recount3's gene or exon sums"),
    ("prepare-coverage-h5ad", ["data", "prepare", "{train}", "--quantity", "coverage", "--out", "{out}.h5ad"],
     "--quantity coverage to recount3's sums"),
    ("prepare-sample-names-absent", ["data", "prepare", "{csv}", "--sample-names", "{out}.tsv", "--out",
                                     "{out}.h5ad"], "check the --sample-names path"),
    ("prepare-quantity-file", ["data", "prepare", "{train}", "--quantity", "tpm", "--out", "{out}.h5ad"],
     "apply to a folder"),
    ("prepare-strand", ["data", "prepare", "{root}", "--strand", "both", "--out", "{out}.h5ad"], "invalid choice"),
    ("prepare-duplicates", ["data", "prepare", "{train}", "--duplicates", "max", "--out", "{out}.h5ad"],
     "invalid choice"),
    ("fetch-retries-negative", ["data", "fetch", "gtex", "--retries", "-1", "--out", "{out}"], "--retries"),
    ("fetch-retry-wait-nan", ["data", "fetch", "gtex", "--retry-wait", "nan", "--out", "{out}"], "--retry-wait"),
    ("fetch-chunksize-zero", ["data", "fetch", "gtex", "--chunksize", "0", "--out", "{out}"], "--chunksize"),
    ("fetch-source", ["data", "fetch", "sra", "--out", "{out}"], "invalid choice"),
    ("fetch-geo-no-accession", ["data", "fetch", "geo", "--out", "{out}"], "needs --accession"),
    ("fetch-geo-bad-accession", ["data", "fetch", "geo", "--accession", "GSE12x"], "is not a series"),
    ("fetch-geo-counts", ["data", "fetch", "geo", "--accession", "GSE1", "--counts", "rpkm"], "invalid choice"),
    ("fetch-geo-counts-platform", ["data", "fetch", "geo", "--accession", "GSE1", "--counts", "raw", "--platform",
                                   "GPL96"], "give one"),
    ("fetch-suppl-not-geo", ["data", "fetch", "tcga", "--suppl", "--out", "{out}"], "--suppl applies to geo"),
    ("info-unknown-option", ["data", "info", "{train}", "--verbose"], "unrecognized arguments"),
    ("top-unknown-command", ["frobnicate"], "invalid choice"),
    ("list-nothing", ["list"], "required"),
    ("list-unknown", ["list", "datasets"], "invalid choice"),
]


@pytest.mark.parametrize("argv,match", [pytest.param(a, m, id=i) for i, a, m in CASES])
def test_bad_option_fails_cleanly(env, clean_failure, argv, match, request):
    out = env["root"] / f"out_{request.node.callspec.id}"
    fill = {k: str(v) for k, v in env.items()} | {"out": str(out)}
    res = clean_failure([a.format(**fill) for a in argv], watch=[env["root"]], match=match)
    for suffix in ("", ".h5ad", ".json"):
        assert not out.with_name(out.name + suffix).exists(), f"{out.name}{suffix} was created"
    assert "Traceback" not in res.out


def test_argparse_errors_name_the_command_help(env, cli):
    res = cli(["sample", str(env["diff"]), "--n", "4", "--eta", "nan", "--out", str(env["root"] / "x.h5ad")])
    assert res.rc == 2
    assert res.err.strip() == ("rnagen: error: argument --eta: must be a finite number >= 0, got 'nan' "
                               "(see 'rnagen sample --help')")
    res = cli(["data", "split", str(env["train"]), "--test-size", "1.5", "--out", str(env["root"] / "s")])
    assert res.err.strip().endswith("(see 'rnagen data split --help')")
    assert "got '1.5'" in res.err and "(0, 1)" in res.err


def test_a_value_beginning_with_a_dash_gets_the_way_to_write_it(env, cli, tmp_path, monkeypatch):
    """--out -x.h5ad reads to argparse as a second option and --out as given no value: the one line says how such
    a value is written, and that form works."""
    res = cli(["data", "split", str(env["train"]), "--out", "-s"])
    assert res.rc == 2 and res.err.strip() == (
        "rnagen: error: argument --out: expected one argument; a value that begins with '-' is written "
        "--out=VALUE (a path: ./-NAME) (see 'rnagen data split --help')")
    monkeypatch.chdir(tmp_path)
    assert cli(["sample", str(env["gauss"]), "--n", "4", "--out=-syn.h5ad", "--quiet"]).rc == 0
    assert (tmp_path / "-syn.h5ad").is_file()


def test_like_accepts_any_readable_file_with_the_labels(env, tmp_path, cli):
    # a CSV with the label column is a legitimate --like: the label counts are matched
    test = ad.read_h5ad(env["test"])
    csv = tmp_path / "like.csv"
    test.to_df().assign(tissue=test.obs["tissue"].astype(str)).to_csv(csv, index_label="sample")
    out = tmp_path / "syn.h5ad"
    res = cli(["sample", str(env["gauss"]), "--like", str(csv), "--out", str(out), "--quiet"])
    assert res.rc == 0, res.err
    syn = ad.read_h5ad(out)
    assert syn.obs["tissue"].astype(str).value_counts().to_dict() == \
        test.obs["tissue"].astype(str).value_counts().to_dict()


def test_like_accepts_a_table_of_labels_alone(env, tmp_path, cli, clean_failure):
    # only the counts matter: a --labels file (sample ids and classes), or the label column alone, says them
    labels = ad.read_h5ad(env["test"]).obs["tissue"].astype(str)
    want = labels.value_counts().to_dict()
    tables = {"ids.csv": labels.rename_axis("sample").to_frame(), "column.tsv": labels.to_frame()}
    for name, frame in tables.items():
        frame.to_csv(tmp_path / name, sep="\t" if name.endswith(".tsv") else ",", index=name == "ids.csv")
        out = tmp_path / f"syn_{name}.h5ad"
        res = cli(["sample", str(env["gauss"]), "--like", str(tmp_path / name), "--out", str(out), "--quiet"])
        assert res.rc == 0, res.err
        assert ad.read_h5ad(out).obs["tissue"].astype(str).value_counts().to_dict() == want
    # a row without its class is named, not counted as a class or dropped
    (tmp_path / "gap.csv").write_text("sample,tissue\ns1,Blood\ns2,\n")
    clean_failure(["sample", str(env["gauss"]), "--like", str(tmp_path / "gap.csv"), "--out",
                   str(tmp_path / "gap_syn.h5ad"), "--quiet"], watch=[tmp_path],
                  match="1 of its 2 rows has no 'tissue' label (the first: sample 's2', data row 2)")
    # an .h5ad has no lines: its unlabelled row is named by its sample id
    obs = pd.DataFrame({"tissue": pd.Categorical(["Blood", np.nan, "Blood"])}, index=["a", "b", "c"])
    ad.AnnData(np.ones((3, 2), dtype=np.float32), obs=obs).write_h5ad(tmp_path / "gap.h5ad")
    clean_failure(["sample", str(env["gauss"]), "--like", str(tmp_path / "gap.h5ad"), "--out",
                   str(tmp_path / "gap_syn.h5ad"), "--quiet"], watch=[tmp_path],
                  match="1 of its 3 rows has no 'tissue' label (the first: sample 'b', data row 2)")


# --- the same checks for Python users -------------------------------------------------------------------------
@pytest.mark.parametrize("options,match", [
    ({"eta": float("nan")}, "eta"), ({"guidance": math.inf}, "guidance"), ({"eta": -0.1}, "eta"),
    ({"guidance": 100.5}, r"guidance must be .*\[0, 100\]"),
    ({"steps": 0}, "steps"), ({"steps": 2.5}, "steps"), ({"clip_x0": 0.0}, "clip_x0"),
])
def test_diffusion_sample_options_checked(env, options, match):
    from rnagen.models import load

    model = load(env["diff"], device="cpu")
    with pytest.raises(ConfigError, match=match):
        model.sample(4, **options)


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 4, "batch_size": -1}, "batch_size"), ({"n": 4, "batch_size": 0}, "batch_size"),
    ({"n": 4, "seed": -1}, "seed"), ({"n": 2.5}, "n must"), ({"n": True}, "n must"),
    ({"counts": {"x": 1}}, "unknown label"), ({"n_per_label": 10**15}, "n_per_label"),
])
def test_generator_sample_arguments_checked(env, kwargs, match):
    from rnagen.errors import RnagenError
    from rnagen.models import load

    model = load(env["gauss"])
    with pytest.raises(RnagenError, match=match):
        model.sample(**kwargs)


def test_configs_built_in_python_are_checked_too():
    from rnagen.models.diffusion.model import SampleConfig
    from rnagen.models.gan.model import GANConfig
    from rnagen.train import TrainConfig

    with pytest.raises(ConfigError, match="train.lr"):
        TrainConfig(lr=math.inf)
    with pytest.raises(ConfigError, match="train.checkpoint_every"):
        TrainConfig(checkpoint_every=-1)
    with pytest.raises(ConfigError, match="sample.guidance"):
        SampleConfig(guidance=float("nan"))
    with pytest.raises(ConfigError, match="gan.lr_generator"):
        GANConfig(lr_generator=0.0)
    assert TrainConfig(steps=3.0).steps == 3 and isinstance(TrainConfig(steps=3.0).steps, int)


@pytest.mark.parametrize("kwargs,match", [
    ({"k": 0}, "k must"), ({"k": 8}, "k \\+ 1"), ({"n_boot": -1}, "n_boot"), ({"n_boot_expensive": -1}, "n_boot"),
    ({"seed": -1}, "seed"), ({"classifier_seeds": ()}, "classifier_seeds"),
])
def test_evaluate_arguments_checked(env, kwargs, match):
    from rnagen.metrics import evaluate

    real, syn = ad.read_h5ad(env["test"]), ad.read_h5ad(env["syn8"])
    with pytest.raises(ConfigError, match=match):
        evaluate(real, syn, label_key="tissue", metrics=["precision"], **kwargs)


def test_device_names(monkeypatch):
    from rnagen.utils import check_device, resolve_device

    assert [check_device(d) for d in ("auto", "cpu", "cuda", "cuda:1")] == ["auto", "cpu", "cuda", "cuda:1"]
    for bad in ("gpu", "mps", "cuda:", "CPU", "", 0):
        with pytest.raises(ConfigError, match="auto .*cpu, cuda"):
            check_device(bad)
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert str(resolve_device("cuda:0")) == "cuda:0"
    with pytest.raises(ConfigError, match="cuda:7.*1 CUDA device"):
        resolve_device("cuda:7")


def test_no_output_folder_for_a_benchmark_of_a_missing_file(tmp_path, clean_failure):
    out = tmp_path / "bench"
    clean_failure(["benchmark", str(tmp_path / "none.h5ad"), "--label-key", "t", "--models", "gaussian",
                   "--out", str(out)], watch=[tmp_path], match="does not exist")
    assert not out.exists()


@pytest.mark.parametrize("variables, match", [
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not a whole number"),
    ({"WORLD_SIZE": "2", "RANK": "0"}, "torchrun --nproc_per_node"),   # no torchrun: no MASTER_ADDR to meet at
])
def test_torchrun_variables_set_outside_torchrun_are_one_line(tmp_path, clean_failure, monkeypatch, variables, match):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(5, 1, (24, 6)), columns=[f"g{i}" for i in range(6)],
                      index=[f"s{i}" for i in range(24)]).assign(kind=["a", "b"] * 12)
    df.to_csv(tmp_path / "expr.csv", index_label="sample")
    for name in ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "run"
    clean_failure(["train", str(tmp_path / "expr.csv"), "--model", "vae", "--label-key", "kind", "--out", str(out),
                   "--quiet", "--device", "cpu", "--set", "train.steps=2"], watch=[tmp_path], match=match)
    assert not out.exists()


def test_run_folders_still_work_after_the_cases(env):
    """The run folders still load and sample after every failing case (nothing in them was touched)."""
    from rnagen.models import load

    syn = load(env["gauss"]).sample(n_per_label=1, seed=0)
    assert syn.n_obs == 4 and np.isfinite(syn.X).all()
    assert pd.Index(syn.var_names).equals(ad.read_h5ad(env["train"]).var_names)
