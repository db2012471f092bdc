"""`rnagen train` / `rnagen sample` / `rnagen list` end to end through the real entry point."""
import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen.cli.main import main


@pytest.fixture
def labelled_csv(tmp_path):
    rng = np.random.default_rng(0)
    genes = ["PSME1", "CISD1", "SPDEF", "TP53", "EGFR", "MYC", "GAPDH", "ACTB"]
    rows = []
    for c, mu in (("tumor", 1.0), ("normal", 4.0), ("other", 7.0)):
        X = rng.normal(mu, 0.3, (12, len(genes)))
        rows.append(pd.DataFrame(X, columns=genes).assign(kind=c))
    df = pd.concat(rows, ignore_index=True)
    df.index = [f"S{i:03d}" for i in range(len(df))]
    path = tmp_path / "expr.csv"
    df.to_csv(path, index_label="sample")
    return path


def test_train_then_sample_on_a_csv(labelled_csv, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(labelled_csv), "--model", "gaussian", "--label-key", "kind", "--out", str(run),
                 "--quiet"]) == 0
    out = tmp_path / "syn.h5ad"
    assert main(["sample", str(run), "--n-per-label", "5", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    syn = ad.read_h5ad(out)
    assert syn.shape == (15, 8)
    assert list(syn.var_names) == ["PSME1", "CISD1", "SPDEF", "TP53", "EGFR", "MYC", "GAPDH", "ACTB"]
    assert syn.obs["kind"].value_counts().to_dict() == {"tumor": 5, "normal": 5, "other": 5}
    means = syn.to_df().groupby(syn.obs["kind"], observed=True).mean().mean(axis=1)
    assert means["tumor"] < means["normal"] < means["other"]
    # --n splits by training label frequencies; --like matches a reference
    assert main(["sample", str(run), "--n", "7", "--out", str(out), "--quiet"]) == 0
    assert ad.read_h5ad(out).n_obs == 7
    assert "sampled 7 profiles" in capsys.readouterr().out
    # --like data without the model's label column: named with the columns they have and sample's own ways on
    pd.read_csv(labelled_csv, index_col=0).rename(columns={"kind": "group"}).to_csv(tmp_path / "other.csv")
    assert main(["sample", str(run), "--like", str(tmp_path / "other.csv"), "--out", str(tmp_path / "o.h5ad")]) == 2
    err = capsys.readouterr().err
    assert "no column 'kind', the model's label column (their columns: group)" in err and "--n-per-label" in err
    assert "--label-key" not in err and not (tmp_path / "o.h5ad").exists()


def _sampled_h5ad(labelled_csv, tmp_path):
    """A Gaussian trained on ``labelled_csv`` and sampled into syn.h5ad: the sample command's arguments up to
    ``--out`` (4 profiles per label, seed 2) and the sampled set."""
    run = tmp_path / "run"
    assert main(["train", str(labelled_csv), "--model", "gaussian", "--label-key", "kind", "--out", str(run),
                 "--quiet"]) == 0
    base = ["sample", str(run), "--n-per-label", "4", "--seed", "2", "--quiet", "--out"]
    assert main([*base, str(tmp_path / "syn.h5ad")]) == 0
    return base, ad.read_h5ad(tmp_path / "syn.h5ad")


def test_sample_writes_a_table_by_the_file_ending(labelled_csv, tmp_path, capsys):
    """--out syn.csv (or .tsv.gz, .parquet) writes a table, a row per profile: its id, its label, then the genes,
    which rnagen reads back to the same profiles; it was an .h5ad under a .csv name (a binary file R and a
    spreadsheet cannot open). A name of another format is refused before any work, nothing written; data prepare
    writes only .h5ad (its record is read later) and refuses a table's name."""
    from rnagen.data import read

    base, ref = _sampled_h5ad(labelled_csv, tmp_path)
    for name in ("syn.csv", "syn.tsv.gz", "syn.parquet"):
        assert main([*base, str(tmp_path / name)]) == 0
        if name == "syn.csv":
            head = (tmp_path / name).read_text().splitlines()[0]
            assert head == "sample,kind," + ",".join(ref.var_names)
        back = read(tmp_path / name, label_key="kind")
        assert list(back.obs_names) == list(ref.obs_names) and list(back.var_names) == list(ref.var_names), name
        np.testing.assert_array_equal(back.X, ref.X)
        assert back.obs["kind"].astype(str).tolist() == ref.obs["kind"].astype(str).tolist()
    capsys.readouterr()
    for name in ("syn.xlsx", "syn.rds", "syn.h5ad.gz"):
        assert main([*base, str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "writes an .h5ad or a table" in err and not (tmp_path / name).exists()
    assert main(["data", "prepare", str(labelled_csv), "--label-key", "kind", "--genes", "all", "--out",
                 str(tmp_path / "prep.csv")]) == 2
    assert "this command writes an .h5ad (it keeps the data's history" in capsys.readouterr().err
    assert not (tmp_path / "prep.csv").exists()


def test_a_parquet_output_keeps_rnagen_record(tmp_path, capsys):
    """sample --out syn.parquet keeps the record an .h5ad output keeps (uns["rnagen"]: the log state, the depth
    normalisation, the model and seed) in the file's schema metadata, as JSON under b"rnagen": read back, the
    parquet set has the .h5ad set's log state, normalisation and synthetic record, scanpy's uns["log1p"] with it,
    and data info reports the recorded state, not one read from the values. reconstruct apply keeps its record
    there too."""
    import json

    import pyarrow.parquet as pq

    from rnagen.data import read
    from rnagen.pp import log_state
    from rnagen.pp.history import depth_normalisation

    rng = np.random.default_rng(4)
    genes = [f"G{i}" for i in range(12)]
    mu = np.repeat([30.0, 150.0, 600.0], 12)[:, None] * rng.uniform(0.5, 2.0, len(genes))
    counts = pd.DataFrame(rng.poisson(mu * rng.uniform(0.5, 2.0, (36, 1))), columns=genes,
                          index=[f"S{i:03d}" for i in range(36)]).assign(kind=np.repeat(["a", "b", "c"], 12))
    counts.to_csv(tmp_path / "counts.csv", index_label="sample")
    assert main(["data", "prepare", str(tmp_path / "counts.csv"), "--label-key", "kind", "--genes", "all",
                 "--normalize", "cpm", "--out", str(tmp_path / "prep.h5ad")]) == 0
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "prep.h5ad"), "--model", "gaussian", "--label-key", "kind", "--out",
                 str(run), "--quiet"]) == 0
    for name in ("syn.h5ad", "syn.parquet"):
        assert main(["sample", str(run), "--n-per-label", "4", "--seed", "5", "--quiet", "--out",
                     str(tmp_path / name)]) == 0
    stored = json.loads(pq.read_schema(tmp_path / "syn.parquet").metadata[b"rnagen"])
    assert stored["log"]["logged"] is True and stored["log"]["transform"] == "log2(x+1)"
    assert stored["synthetic"]["model"] == "gaussian" and stored["synthetic"]["seed"] == 5
    h5, pq_ = read(tmp_path / "syn.h5ad", label_key="kind"), read(tmp_path / "syn.parquet", label_key="kind")
    np.testing.assert_array_equal(pq_.X, h5.X)
    assert log_state(pq_) == log_state(h5) == {"logged": True, "transform": "log2(x+1)", "pseudocount": 1.0,
                                               "base": 2.0}
    assert depth_normalisation(pq_) == depth_normalisation(h5) == {"method": "cpm"}
    assert pq_.uns["rnagen"]["synthetic"] == h5.uns["rnagen"]["synthetic"]
    assert dict(pq_.uns["log1p"]) == dict(h5.uns["log1p"]) == {"base": 2.0}
    capsys.readouterr()
    lines = {}
    for name in ("syn.h5ad", "syn.parquet"):
        assert main(["data", "info", str(tmp_path / name)]) == 0
        lines[name] = [x for x in capsys.readouterr().out.splitlines() if x.startswith(("log state:", "synthetic:"))]
    assert lines["syn.parquet"] == lines["syn.h5ad"] and len(lines["syn.h5ad"]) == 2
    assert "not recorded" not in lines["syn.parquet"][1] and "log2(x+1)" in lines["syn.parquet"][1]
    # reconstruct apply writes its record (the reconstruction step) into a parquet output as well
    (tmp_path / "inputs.txt").write_text("\n".join(genes[:4]) + "\n")
    assert main(["reconstruct", "fit", str(tmp_path / "prep.h5ad"), "--inputs", str(tmp_path / "inputs.txt"),
                 "--method", "linear", "--out", str(tmp_path / "recon")]) == 0
    assert main(["reconstruct", "apply", str(tmp_path / "recon"), str(tmp_path / "syn.h5ad"), "--out",
                 str(tmp_path / "full.parquet")]) == 0
    full = read(tmp_path / "full.parquet")
    assert log_state(full) == log_state(h5)
    assert [h["step"] for h in full.uns["rnagen"]["history"].values()][-2:] == ["reconstruct", "read"]


def test_evaluate_reads_a_parquet_output_by_its_record(tmp_path, capsys):
    """evaluate scores a synthetic parquet file as the .h5ad of the same profiles: the record in its metadata
    gives its scale. Profiles of a model trained on ln(x+1) values (scanpy's log1p) are converted to the held-out
    set's log2(x+1) by their record; read by value they stay on ln and every gene's mean sits below the held-out
    set's, and a set with a gene above the log range leaves its scale to be guessed from the held-out set."""
    import json

    import anndata as ad

    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(12)]

    def make(name, n, log, base):
        y = np.repeat(["tumor", "normal", "other"], n)
        mu = np.repeat([20.0, 100.0, 400.0], n)[:, None] * rng.uniform(0.5, 2, len(genes))
        a = ad.AnnData(log(rng.poisson(mu) + 1.0).astype(np.float32), var=pd.DataFrame(index=genes),
                       obs=pd.DataFrame({"kind": y}, index=[f"{name}{i}" for i in range(len(y))]))
        a.uns["log1p"] = {"base": base}
        a.write_h5ad(tmp_path / f"{name}.h5ad")

    make("train", 12, np.log, None)
    make("test", 8, np.log2, 2.0)
    assert main(["train", str(tmp_path / "train.h5ad"), "--model", "gaussian", "--label-key", "kind", "--out",
                 str(tmp_path / "run"), "--quiet"]) == 0
    scores = {}
    for ext in ("h5ad", "parquet"):
        syn, out = tmp_path / f"syn.{ext}", tmp_path / f"eval_{ext}.json"
        assert main(["sample", str(tmp_path / "run"), "--n-per-label", "8", "--seed", "3", "--quiet", "--out",
                     str(syn)]) == 0
        assert main(["evaluate", "--real", str(tmp_path / "test.h5ad"), "--synthetic", str(syn), "--label-key",
                     "kind", "--metrics", "precision,recall,mmd", "--n-boot", "10", "--out", str(out)]) == 0
        scores[ext] = json.loads(out.read_text())
    for ext in ("h5ad", "parquet"):
        prep = scores[ext]["preprocessing"]
        assert "ln(x+1) converted to log2(x+1)" in prep["synthetic"], ext
        assert "synthetic_scale" not in prep and "synthetic_read" not in prep, ext
    values = {ext: [(m["name"], m["value"], m["ci_low"], m["ci_high"]) for m in scores[ext]["metrics"]]
              for ext in scores}
    assert values["parquet"] == values["h5ad"]
    assert dict((m[0], m[1]) for m in values["parquet"])["recall"] == 1.0
    # log values with a gene above the log range (recorded by data prepare --scale log): the record says log
    # scale, where the values alone leave it open
    X = rng.normal(4.0, 0.5, (36, 12)).astype(np.float32)
    X[:, -1] += 30.0
    a = ad.AnnData(X, var=pd.DataFrame(index=genes),
                   obs=pd.DataFrame({"kind": np.repeat(["a", "b", "c"], 12)}, index=[f"S{i}" for i in range(36)]))
    a.to_df().assign(kind=a.obs["kind"]).to_csv(tmp_path / "high.csv", index_label="sample")
    assert main(["data", "prepare", str(tmp_path / "high.csv"), "--label-key", "kind", "--genes", "all", "--log",
                 "none", "--scale", "log", "--out", str(tmp_path / "high.h5ad")]) == 0
    assert main(["train", str(tmp_path / "high.h5ad"), "--model", "gaussian", "--label-key", "kind", "--out",
                 str(tmp_path / "run_high"), "--quiet"]) == 0
    assert main(["sample", str(tmp_path / "run_high"), "--n-per-label", "8", "--seed", "3", "--quiet", "--out",
                 str(tmp_path / "high.parquet")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--real", str(tmp_path / "high.h5ad"), "--synthetic", str(tmp_path / "high.parquet"),
                 "--label-key", "kind", "--metrics", "precision", "--n-boot", "10"]) == 0
    assert "no log record" not in capsys.readouterr().out


def test_sample_writes_gct_for_l1000_tools(labelled_csv, tmp_path, capsys):
    """--out syn.gct (or .gct.gz) writes GCT 1.3, genes x profiles: the label a column-metadata line, 'na'
    descriptions; rnagen reads it back to the same values, profiles, genes and labels, evaluate takes it as the
    synthetic set, and a second sample replaces it as its own output. A user's GCT at --out is refused, kept whole,
    as a user's CSV is; a GCTX name is still refused."""
    import gzip

    from rnagen.data import read

    base, ref = _sampled_h5ad(labelled_csv, tmp_path)
    for name in ("syn.gct", "syn.gct.gz", "syn.gct"):   # the third over the first: rnagen's own output replaced
        assert main([*base, str(tmp_path / name)]) == 0
        opener = gzip.open if name.endswith(".gz") else open
        with opener(tmp_path / name, "rt") as fh:
            lines = fh.read().splitlines()
        assert lines[:2] == ["#1.3", "8\t12\t1\t1"] and len(lines) == 4 + 8
        assert lines[2] == "\t".join(["id", "Description", *ref.obs_names])
        assert lines[3] == "\t".join(["kind", "na", *ref.obs["kind"].astype(str)])
        assert lines[4].split("\t")[:2] == ["PSME1", "na"]
        back = read(tmp_path / name, label_key="kind")
        assert list(back.obs_names) == list(ref.obs_names) and list(back.var_names) == list(ref.var_names), name
        np.testing.assert_array_equal(back.X, ref.X)   # float32 values written to round-trip exactly
        assert back.obs["kind"].astype(str).tolist() == ref.obs["kind"].astype(str).tolist()
    assert "-> " + str(tmp_path / "syn.gct") in capsys.readouterr().out
    assert main(["evaluate", "--real", str(labelled_csv), "--synthetic", str(tmp_path / "syn.gct"), "--label-key",
                 "kind", "--metrics", "precision", "--n-boot", "10"]) == 0
    assert "precision" in capsys.readouterr().out
    # a GCT of the user's own (real profiles) at --out is refused and kept; a GCTX is another format
    own = tmp_path / "mine.gct"
    own.write_text("#1.2\n1\t2\nName\tDescription\tS1\tS2\nTP53\tna\t1\t2\n")
    kept = own.read_bytes()
    assert main([*base, str(own)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists and holds profiles rnagen did not generate" in err
    assert own.read_bytes() == kept
    assert main([*base, str(tmp_path / "syn.gctx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GCT's .gct, optionally .gz" in err and not (tmp_path / "syn.gctx").exists()
    # the profiles' file given as its own input: refused before it is replaced
    assert main(["sample", base[1], "--like", str(tmp_path / "syn.gct"), "--out", str(tmp_path / "syn.gct")]) == 2
    assert "would overwrite the input" in capsys.readouterr().err


def test_messages_count_labels_in_the_singular_too(labelled_csv, tmp_path, capsys):
    one = tmp_path / "one.csv"
    df = pd.read_csv(labelled_csv, index_col=0)
    df[df["kind"] == "tumor"].to_csv(one, index_label="sample")
    run = tmp_path / "run"
    assert main(["train", str(one), "--model", "gaussian", "--label-key", "kind", "--out", str(run), "--quiet"]) == 0
    assert "12 samples x 8 genes, 1 label in " in capsys.readouterr().out
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.h5ad"), "--quiet"]) == 0
    assert "(1 label) ->" in capsys.readouterr().out
    assert main(["train", str(labelled_csv), "--model", "gaussian", "--label-key", "kind", "--out",
                 str(tmp_path / "run3"), "--quiet"]) == 0
    assert "3 labels in " in capsys.readouterr().out


def test_config_override_and_errors(labelled_csv, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(labelled_csv), "--model", "gaussian", "--label-key", "kind", "--out", str(run),
                 "--set", "covariance=diag", "--quiet"]) == 0
    assert 'covariance = "diag"' in (run / "config.toml").read_text()
    capsys.readouterr()
    assert main(["train", str(labelled_csv), "--model", "gaussian", "--label-key", "nope", "--out",
                 str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert "label column 'nope' not found" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["train", str(labelled_csv), "--model", "gaussian", "--label-key", "kind", "--out",
                 str(tmp_path / "r3"), "--set", "covarianse=diag"]) == 2
    assert "unknown config key 'covarianse'" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "missing"), "--n", "3", "--out", str(tmp_path / "x.h5ad")]) == 2
    assert not (tmp_path / "x.h5ad").exists()
    ref = tmp_path / "ref.h5ad"
    ad.AnnData(np.zeros((2, 8)), obs=pd.DataFrame({"kind": ["alien", "tumor"]}, index=["a", "b"])).write_h5ad(ref)
    assert main(["sample", str(run), "--like", str(ref), "--out", str(tmp_path / "y.h5ad")]) == 2
    assert "unknown label" in capsys.readouterr().err


def test_list_models(capsys):
    """Each model with its docstring's first paragraph whole (the first line stopped at "DDIM or")."""
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    assert "gaussian" in out and "(DDPM training; DDPM, DDIM or DPM-Solver++ sampling)." in out


def test_csv_with_unrecognised_gene_ids_and_a_label_column(tmp_path):
    """More samples than genes, ids that are no known gene: the label column says rows are samples."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.normal(5, 1, (30, 4)), columns=[f"probe_{i}" for i in range(4)],
                      index=[f"S{i}" for i in range(30)]).assign(group=["a", "b", "c"] * 10)
    df.to_csv(tmp_path / "x.csv")
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "x.csv"), "--model", "gaussian", "--label-key", "group", "--out",
                 str(run), "--quiet"]) == 0
    assert (run / "genes.txt").read_text().split() == [f"probe_{i}" for i in range(4)]


def test_model_defaults_to_the_one_named_in_config(labelled_csv, tmp_path):
    cfg = tmp_path / "best.toml"
    cfg.write_text('model = "gaussian"\ncovariance = "diag"\n')
    run = tmp_path / "run"
    assert main(["train", str(labelled_csv), "--config", str(cfg), "--label-key", "kind", "--out", str(run),
                 "--quiet"]) == 0
    text = (run / "config.toml").read_text()
    assert 'model = "gaussian"' in text and 'covariance = "diag"' in text


def test_train_accepts_the_bundled_data_by_name(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "gtex26", "--model", "gaussian", "--label-key", "tissue", "--out", str(run), "--quiet"]) == 0
    assert len((run / "genes.txt").read_text().split()) == 467


def test_train_refuses_a_nonnegative_support_for_negative_data(labelled_csv, tmp_path, capsys):
    """``preprocess.support=nonnegative`` on data with values below 0: one line naming the key and the fix,
    exit 2, no run folder."""
    df = pd.read_csv(labelled_csv, index_col=0)
    genes = df.columns[:-1]
    df[genes] = df[genes] - 4.0                       # centred values: many below 0
    path = tmp_path / "centred.csv"
    df.to_csv(path, index_label="sample")
    run = tmp_path / "run"
    assert main(["train", str(path), "--model", "gaussian", "--label-key", "kind", "--out", str(run),
                 "--set", "preprocess.support=nonnegative", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "preprocess.support=nonnegative" in err and "auto or any" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not run.exists()
    # the default (auto) trains on them and leaves values below 0 in its samples
    assert main(["train", str(path), "--model", "gaussian", "--label-key", "kind", "--out", str(run), "--quiet"]) == 0
    out = tmp_path / "syn.h5ad"
    assert main(["sample", str(run), "--n-per-label", "50", "--out", str(out), "--quiet"]) == 0
    assert ad.read_h5ad(out).X.min() < 0


def test_train_refuses_matched_zeros_with_privacy(labelled_csv, tmp_path, capsys):
    """``preprocess.zeros=match`` reads per-class shares of the training data outside the DP guarantee: with
    ``privacy.epsilon`` it is one line naming the key and the fix, exit 2, no run folder."""
    run = tmp_path / "run"
    assert main(["train", str(labelled_csv), "--model", "gaussian", "--label-key", "kind", "--out", str(run),
                 "--set", "preprocess.zeros=match", "--set", "privacy.epsilon=4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "preprocess.zeros=match" in err and "auto or clip" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not run.exists()


def test_train_prints_the_wgan_output_noise_choice(tmp_path, capsys):
    """`rnagen train` says which output noise the WGAN-GP chose and on how many held-out profiles."""
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.normal(5, 1, (120, 6)), columns=[f"g{i}" for i in range(6)],
                      index=[f"S{i}" for i in range(120)]).assign(group=["a", "b"] * 60)
    df.to_csv(tmp_path / "x.csv")
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "x.csv"), "--model", "wgan-gp", "--label-key", "group", "--out", str(run),
                 "--set", "train.steps=2", "--set", "network.generator_hidden=[8]", "--set",
                 "network.critic_hidden=[8]", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "held-out profiles (validation score" in out and "output noise" in out
    assert main(["train", str(tmp_path / "x.csv"), "--model", "wgan-gp", "--label-key", "group", "--out",
                 str(tmp_path / "run0"), "--set", "train.steps=2", "--set", "network.generator_hidden=[8]", "--set",
                 "network.critic_hidden=[8]", "--set", "sample.noise=0", "--quiet"]) == 0
    assert "output noise" not in capsys.readouterr().out


@pytest.mark.parametrize("model", ["gaussian", "vae"])
def test_sample_round_gives_whole_number_counts(tmp_path, capsys, model):
    """A model trained on read counts samples whole numbers with --round (the unrounded draw of the same seed,
    rounded; recorded in uns) and records that its data were whole numbers; one trained on other values refuses
    --round in one line and writes nothing; a run folder whose record is not true/false is refused."""
    import json

    rng = np.random.default_rng(0)
    genes = ["PSME1", "CISD1", "SPDEF", "TP53", "EGFR", "MYC", "GAPDH", "ACTB"]
    mu = np.array([[5.0] * 8, [60.0] * 8])
    y = np.repeat([0, 1], 15)
    X = rng.poisson(mu[y])
    df = pd.DataFrame(X, columns=genes, index=[f"S{i}" for i in range(30)]).assign(kind=np.array(["a", "b"])[y])
    df.to_csv(tmp_path / "counts.csv", index_label="sample")
    run = tmp_path / "run"
    sets = ["--set", "train.steps=20"] if model == "vae" else []
    assert main(["train", str(tmp_path / "counts.csv"), "--model", model, "--label-key", "kind", "--out", str(run),
                 "--quiet", *sets]) == 0
    assert json.loads((run / "meta.json").read_text())["whole_numbers"] is True
    for extra, name in (([], "raw.h5ad"), (["--round"], "rounded.h5ad")):
        assert main(["sample", str(run), "--n-per-label", "50", "--seed", "3", "--out", str(tmp_path / name),
                     "--quiet", *extra]) == 0
    raw, rounded = ad.read_h5ad(tmp_path / "raw.h5ad"), ad.read_h5ad(tmp_path / "rounded.h5ad")
    assert not np.array_equal(raw.X, np.rint(raw.X))
    np.testing.assert_array_equal(rounded.X, np.rint(raw.X))
    assert rounded.uns["rnagen"]["synthetic"]["rounded"] and "rounded" not in raw.uns["rnagen"]["synthetic"]

    logged = tmp_path / "logged.csv"
    df.assign(**{g: np.log2(df[g] + 1.0) for g in genes}).to_csv(logged, index_label="sample")
    assert main(["train", str(logged), "--model", "gaussian", "--label-key", "kind", "--out",
                 str(tmp_path / "run_log"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "run_log"), "--n", "4", "--round", "--out", str(tmp_path / "x.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained on values that are not whole numbers" in err
    assert not (tmp_path / "x.h5ad").exists()

    meta = json.loads((run / "meta.json").read_text())
    meta["whole_numbers"] = "yes"
    (run / "meta.json").write_text(json.dumps(meta))
    from rnagen._manifest import RUN_FILES, write_manifest

    write_manifest(run, RUN_FILES, model=model, fingerprint=meta["fingerprint"])   # a consistent folder
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "y.h5ad")]) == 2
    err = capsys.readouterr().err
    assert "its whole_numbers entry 'yes' is not true or false" in err and not (tmp_path / "y.h5ad").exists()


def test_a_network_too_large_for_memory_is_one_line_and_leaves_no_folder(labelled_csv, tmp_path, capsys):
    """A width no machine holds is refused in one line naming the allocation and what lowers it (torch's
    allocator traceback before), and the run folder it would have written is not left behind."""
    out = tmp_path / "run"
    rc = main(["train", str(labelled_csv), "--model", "vae", "--label-key", "kind", "--out", str(out),
               "--set", "network.hidden=[10000000000]", "--set", "train.steps=2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("rnagen: error: out of memory (an allocation of ") and "network widths" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("error, expected", [
    (MemoryError(), "out of memory (this machine has"),
    (RuntimeError("CUDA out of memory. Tried to allocate 2.50 GiB (GPU 0; 79.1 GiB total)"),
     "out of memory (an allocation of 2.5 GiB; more than the GPU has)"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                  "tried to allocate 1073741824 bytes. Error code 12"), "out of memory (an allocation of 1.0 GiB"),
    (RuntimeError("Storage size calculation overflowed with sizes=[4000000000000000000, 128]"),
     "out of memory (an allocation of more than 2^64 bytes; this machine has"),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), None),
])
def test_out_of_memory_messages(error, expected):
    from rnagen.cli.main import _out_of_memory

    got = _out_of_memory(error)
    assert (got is None) if expected is None else got.startswith(expected)
    if expected is not None:   # what lowers the memory is the command's own: evaluate has no --set
        assert "--set" in got and "--n-boot" in _out_of_memory(error, "evaluate")
        assert "--set" not in _out_of_memory(error, "evaluate")


def test_an_output_over_data_rnagen_did_not_write_is_refused(labelled_csv, tmp_path, capsys):
    """`--out` naming a user's own data file (the training data, given to sample as its --out) replaced it; a
    file rnagen wrote there before (a re-run) is replaced as before."""
    run = tmp_path / "run"
    assert main(["train", str(labelled_csv), "--model", "gaussian", "--label-key", "kind", "--out", str(run)]) == 0
    own_h5ad = tmp_path / "mine.h5ad"
    ad.AnnData(np.ones((2, 2), np.float32)).write_h5ad(own_h5ad)
    own_csv = tmp_path / "counts.csv"   # a table of genes (rows) and samples, as most expression files are
    own_csv.write_text("gene,S1,S2\nTP53,1,2\n")
    before = {p: p.read_bytes() for p in (labelled_csv, own_h5ad, own_csv)}
    capsys.readouterr()
    for target in (own_csv, own_h5ad):
        assert main(["sample", str(run), "--n", "6", "--out", str(target)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "exists and holds profiles rnagen did not generate" in err
    assert main(["data", "prepare", str(labelled_csv), "--label-key", "kind", "--genes", "all",
                 "--out", str(own_h5ad)]) == 2
    assert "holds data rnagen did not write" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before
    for out in (tmp_path / "s.csv", tmp_path / "s.h5ad", tmp_path / "s.tsv.gz", tmp_path / "s.parquet"):
        for _ in range(2):   # written, then written again over rnagen's own output
            assert main(["sample", str(run), "--n", "6", "--out", str(out)]) == 0
    assert main(["data", "prepare", str(labelled_csv), "--label-key", "kind", "--genes", "all",
                 "--out", str(tmp_path / "p.h5ad")]) == 0
    # real data rnagen wrote (prepared, or a table of real profiles in its layout) is not a synthetic set: sample
    # does not replace it (data prepare may rewrite its own output)
    (tmp_path / "p.csv").write_text("sample,kind,G1\nS1,a,1.5\nS2,b,2.5\n")
    capsys.readouterr()
    for real in (tmp_path / "p.h5ad", tmp_path / "p.csv"):
        kept = real.read_bytes()
        assert main(["sample", str(run), "--n", "6", "--out", str(real)]) == 2
        assert "holds profiles rnagen did not generate (no synthetic or reconstruction record in it: real data?)" \
            in capsys.readouterr().err
        assert real.read_bytes() == kept
    assert main(["data", "prepare", str(labelled_csv), "--label-key", "kind", "--genes", "all",
                 "--out", str(tmp_path / "p.h5ad")]) == 0
    assert main(["data", "prepare", str(labelled_csv), "--label-key", "kind", "--genes", "all",
                 "--out", str(tmp_path / "p.h5ad")]) == 0


def test_the_summary_says_when_the_fit_took_longer_than_its_training(labelled_csv, tmp_path, capsys, monkeypatch):
    """`trained ... in X s` is the training loop's time; the choices after it (guidance, the floor comparison) can
    take longer than the loop, and the line then gives the whole too."""
    import time

    from rnagen.models.gaussian import GaussianModel

    fit = GaussianModel.fit

    def slow_fit(self, *a, **kw):   # work after the training steps, as the guidance choice is
        out = fit(self, *a, **kw)
        time.sleep(1.5)
        return out

    monkeypatch.setattr(GaussianModel, "fit", slow_fit)
    assert main(["train", str(labelled_csv), "--model", "gaussian", "--label-key", "kind", "--out",
                 str(tmp_path / "run")]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("trained gaussian")][0]
    import re

    m = re.search(r"in ([0-9.]+) s \(([0-9.]+) s in all, with the choices after training\)", line)
    assert m and float(m.group(2)) >= float(m.group(1)) + 1.5, line


def test_evaluate_says_the_guarantee_a_private_synthetic_set_carries(labelled_csv, tmp_path, capsys):
    """A set sampled from a differentially private model carries its ε and δ (``uns['rnagen']['privacy']``):
    evaluate prints them, rounded up, and keeps them in --out; a set from another model has none."""
    import json

    for private in (True, False):
        run, syn, res = tmp_path / f"run{private}", tmp_path / f"syn{private}.h5ad", tmp_path / f"m{private}.json"
        opts = ["--set", "privacy.epsilon=2"] if private else []
        assert main(["train", str(labelled_csv), "--model", "gaussian", "--label-key", "kind", "--out", str(run),
                     "--quiet", *opts]) == 0
        assert main(["sample", str(run), "--n-per-label", "8", "--out", str(syn), "--quiet"]) == 0
        capsys.readouterr()
        assert main(["evaluate", "--real", str(labelled_csv), "--synthetic", str(syn), "--label-key", "kind",
                     "--metrics", "density", "--n-boot", "10", "--out", str(res)]) == 0
        out = capsys.readouterr().out
        rec = json.loads(res.read_text())["inputs"]["synthetic_privacy"]
        if private:
            spent = ad.read_h5ad(syn).uns["rnagen"]["privacy"]["epsilon"]
            assert rec["epsilon"] == pytest.approx(float(spent)) and 0 < rec["epsilon"] <= 2
            assert rec["delta"] == pytest.approx(1 / 36)
            assert "note: the synthetic set comes from a differentially private model: epsilon 2" in out
        else:
            assert rec is None and "differentially private" not in out


def test_a_folder_killed_before_its_final_manifest_is_resumed_not_sampled(labelled_csv, tmp_path, capsys):
    """Killed after the weights and meta.json, before the manifest naming the model: `rnagen train` reads the
    folder as unfinished and resumes it; `rnagen sample` refused it as well (it sampled it as complete)."""
    import json

    from rnagen._manifest import RUN_FILES, write_manifest

    run = tmp_path / "run"
    argv = ["train", str(labelled_csv), "--model", "vae", "--label-key", "kind", "--out", str(run), "--quiet",
            "--set", "train.steps=20"]
    assert main(argv) == 0
    meta = json.loads((run / "meta.json").read_text())
    write_manifest(run, [f for f in RUN_FILES if f.endswith(".pt")], fingerprint=meta["fingerprint"])  # no model
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a complete run folder (its final save did not complete)" in err
    assert "rnagen train" in err and not (tmp_path / "s.h5ad").exists()
    assert main(argv) == 0   # the way the message gives: the run is finished again, and samples
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.h5ad"), "--quiet"]) == 0


def test_train_names_a_finished_run_s_damaged_file_and_refuses_a_benchmark_s_run_folder(labelled_csv, tmp_path,
                                                                                        capsys):
    """A finished run with a damaged file: sample sends the user to train again with --no-resume, and train said
    "sample from it"; it names the damage and --no-resume now. A benchmark's run folder is the benchmark's to
    train (a run trained into it by hand made the running benchmark stop)."""
    run = tmp_path / "run"
    argv = ["train", str(labelled_csv), "--model", "vae", "--label-key", "kind", "--quiet", "--set", "train.steps=20"]
    assert main([*argv, "--out", str(run)]) == 0
    with open(run / "weights.safetensors", "r+b") as fh:
        fh.truncate(100)
    capsys.readouterr()
    assert main([*argv, "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "weights.safetensors is truncated or replaced" in err and "--no-resume" in err
    assert "sample from it" not in err
    bench = tmp_path / "bench"
    (bench / "runs" / "vae_seed0").mkdir(parents=True)
    (bench / "bench.json").write_text("{}")
    assert main([*argv, "--out", str(bench / "runs" / "vae_seed0")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a run folder of the benchmark in" in err
    assert not (bench / "runs" / "vae_seed0" / "config.toml").exists()


def test_a_model_refuses_to_log_values_the_data_record_as_logged(tmp_path, capsys):
    """--set preprocess.log=log2p1 on a prepared file of log2(x+1) values logged them again: the model learnt
    log2(log2(x+1)+1), and its bound of 3 log2 units past the data was applied as a factor of 8 on the log values
    (samples reached 8 times the data's largest log value, 2^170 counts). Refused in one line, as prepare --log
    log2p1 refuses such values, and no run folder is left; preprocess.log=auto trains on them as they are."""
    rng = np.random.default_rng(0)
    genes = ["PSME1", "CISD1", "SPDEF", "TP53", "EGFR", "MYC"]
    y = np.repeat(["a", "b"], 20)
    X = rng.poisson(np.where(y[:, None] == "a", 30.0, 300.0), (40, len(genes)))
    pd.DataFrame(X, columns=genes, index=[f"S{i}" for i in range(40)]).assign(kind=y).to_csv(tmp_path / "c.csv")
    prep = tmp_path / "log.h5ad"
    assert main(["data", "prepare", str(tmp_path / "c.csv"), "--label-key", "kind", "--genes", "all",
                 "--out", str(prep)]) == 0
    capsys.readouterr()
    run = tmp_path / "run"
    assert main(["train", str(prep), "--model", "gaussian", "--set", "preprocess.log=log2p1", "--out", str(run),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "preprocess.log=log2p1 on values the data's record says are log scale already (log2(x+1))" in err
    assert "preprocess.log=auto or none" in err and not run.exists()
    assert main(["train", str(prep), "--model", "gaussian", "--out", str(run), "--quiet"]) == 0
    assert main(["sample", str(run), "--n-per-label", "200", "--out", str(tmp_path / "s.h5ad"), "--quiet"]) == 0
    data, syn = ad.read_h5ad(prep), ad.read_h5ad(tmp_path / "s.h5ad")
    assert float(syn.X.max()) <= float(np.asarray(data.X).max()) + 3.0   # UPPER_MARGIN log2 units, on log data


def test_a_sample_carries_its_training_data_s_depth_normalisation(tmp_path, capsys):
    """A model trained on depth-normalised values (prepare --normalize cpm or median-ratio) samples on that scale;
    the sample's uns said only log2(x+1), and evaluate scored a median-ratio set against a CPM one without a word
    (its means' shift, a scale note's cue, is no cue there). The run records the method (meta.json data_depth,
    read back on load), the sample's history names it (rnagen data info shows it), and evaluate refuses two
    recorded methods in one line and notes a normalised synthetic set beside a held-out set prepared without."""
    import json

    rng = np.random.default_rng(1)
    genes = ["PSME1", "CISD1", "SPDEF", "TP53", "EGFR", "MYC", "GAPDH", "ACTB"]
    y = np.repeat(["a", "b"], 30)
    depth = rng.uniform(0.5, 2.0, 60)[:, None]
    X = rng.poisson(depth * np.where(y[:, None] == "a", 200.0, 800.0) * np.linspace(1, 3, len(genes)))
    pd.DataFrame(X, columns=genes, index=[f"S{i}" for i in range(60)]).assign(kind=y).to_csv(tmp_path / "c.csv")
    sets = {}
    for norm in ("none", "cpm", "median-ratio"):
        prep, run, syn = tmp_path / f"{norm}.h5ad", tmp_path / f"run_{norm}", tmp_path / f"syn_{norm}.h5ad"
        assert main(["data", "prepare", str(tmp_path / "c.csv"), "--label-key", "kind", "--genes", "all",
                     "--normalize", norm, "--out", str(prep)]) == 0
        assert main(["train", str(prep), "--model", "gaussian", "--out", str(run), "--quiet"]) == 0
        assert main(["sample", str(run), "--n-per-label", "30", "--out", str(syn), "--quiet"]) == 0
        sets[norm] = (prep, run, syn)
    meta = {n: json.loads((r / "meta.json").read_text()) for n, (_, r, _) in sets.items()}
    assert meta["cpm"]["data_depth"] == {"method": "cpm"} and meta["none"]["data_depth"] == {"method": "none"}
    steps = {n: [dict(h) for h in ad.read_h5ad(s).uns["rnagen"].get("history", {}).values()]
             for n, (_, _, s) in sets.items()}
    assert steps["none"] == []
    assert [(h["step"], h["method"]) for h in steps["median-ratio"]] == [("normalize_depth", "median-ratio")]
    capsys.readouterr()
    assert main(["data", "info", str(sets["cpm"][2])]) == 0
    assert "normalize_depth (method=cpm, of=the training data, whose scale the samples are on)" in \
        capsys.readouterr().out
    base = ["--metrics", "density", "--n-boot", "10", "--label-key", "kind"]
    # a CPM held-out set against median-ratio samples: refused, nothing written
    out = tmp_path / "m.json"
    assert main(["evaluate", "--real", str(sets["cpm"][0]), "--synthetic", str(sets["median-ratio"][2]), *base,
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not out.exists()
    assert ("the synthetic set's values record the depth normalisation median-ratio, the held-out set's cpm: two "
            "scales") in err
    # the same method on both sides: no word; a held-out set prepared without one: a note, kept in --out
    assert main(["evaluate", "--real", str(sets["cpm"][0]), "--synthetic", str(sets["cpm"][2]), *base]) == 0
    assert "depth normalisation" not in capsys.readouterr().out
    assert main(["evaluate", "--real", str(sets["none"][0]), "--synthetic", str(sets["median-ratio"][2]), *base,
                 "--out", str(out)]) == 0
    said = ("its values record the depth normalisation median-ratio, the held-out set's none (prepared without "
            "--normalize): two scales?")
    assert f"note: the synthetic set: {said}" in capsys.readouterr().out
    assert said in json.loads(out.read_text())["preprocessing"]["synthetic_scale"]
