"""The generator interface, exercised through the per-class Gaussian (the fastest model)."""
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from rnagen.errors import ConfigError, DataError, RunDirError
from rnagen.models import get_model, label_plan, load
from rnagen.pp import set_log_state


def _adata(n_per=60, genes=6, seed=0, raw=True):
    rng = np.random.default_rng(seed)
    means = np.array([[2.0] * genes, [6.0] * genes])
    logx = np.concatenate([rng.normal(means[c], 0.5, (n_per, genes)) for c in range(2)])
    X = np.exp2(logx) - 1 if raw else logx
    obs = pd.DataFrame({"tissue": pd.Categorical(["liver"] * n_per + ["brain"] * n_per,
                                                 categories=["liver", "brain"])},
                       index=[f"s{i}" for i in range(2 * n_per)])
    return ad.AnnData(X.astype(np.float32), obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(genes)]))


def test_label_plan_modes():
    labels, counts = ["a", "b", "c"], np.array([50, 30, 20])
    y = label_plan(labels, counts, n=11)
    assert len(y) == 11 and np.bincount(y).tolist() == [6, 3, 2]  # largest remainder of 5.5/3.3/2.2
    assert np.bincount(label_plan(labels, counts, n_per_label=4)).tolist() == [4, 4, 4]
    ref = ad.AnnData(np.zeros((3, 1)), obs=pd.DataFrame({"k": ["c", "c", "a"]}, index=["x", "y", "z"]))
    assert np.bincount(label_plan(labels, counts, like=ref, label_key="k"), minlength=3).tolist() == [1, 0, 2]
    with pytest.raises(DataError, match=r"unknown label\(s\) \['zzz'\] \(the model was trained on 3 labels: a, b, "
                                        r"c\)$"):
        label_plan(labels, counts, counts={"zzz": 3})
    with pytest.raises(DataError, match="they differ from the model's only in case or spacing"):
        label_plan(["Lung tissue", "b"], counts[:2], counts={"lung_tissue": 3})
    with pytest.raises(ConfigError, match="exactly one"):
        label_plan(labels, counts, n=3, n_per_label=2)
    # the bundled data set by name, as every command takes it
    from rnagen import datasets

    g = datasets.load("gtex26").obs["tissue"].astype(str)
    tissues = sorted(set(g))
    y = label_plan(tissues, np.ones(len(tissues)), like="gtex26", label_key="tissue")
    assert len(y) == 520 and np.bincount(y).tolist() == [int((g == t).sum()) for t in tissues]


def test_raw_units_round_trip_and_run_folder(tmp_path):
    a = _adata(raw=True)
    m = get_model("gaussian")().fit(a, label_key="tissue", run_dir=tmp_path / "run")
    assert m.pipeline.spec == "log2p1+standard"  # raw TPM-like input gets logged, then scaled
    assert m.labels == ["liver", "brain"]  # the user's category order is kept
    syn = m.sample(n_per_label=4000, seed=3)
    assert list(syn.var_names) == list(a.var_names)
    assert syn.obs["tissue"].value_counts().to_dict() == {"liver": 4000, "brain": 4000}
    # back in original (linear) units: the log2 mean of each class matches the generating value
    logged = np.log2(syn.X + 1)
    assert np.allclose(logged[syn.obs["tissue"] == "liver"].mean(0), 2.0, atol=0.15)
    assert np.allclose(logged[syn.obs["tissue"] == "brain"].mean(0), 6.0, atol=0.15)
    assert (syn.X >= 0).all()
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.toml", "meta.json", "genes.txt", "transforms.npz", "weights.safetensors"} <= files
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["label_counts"] == [60, 60] and meta["n_genes"] == 6
    again = load(tmp_path / "run").sample(n_per_label=4000, seed=3)
    np.testing.assert_array_equal(again.X, syn.X)


def test_save_never_replaces_files_it_did_not_write(tmp_path):
    """``save`` refuses the folders ``fit(run_dir=...)`` refuses (another run, a reconstructor, a benchmark, a
    config.toml of the user's own), each left as it was; it rewrites the model's own folder (trained into, loaded
    from or saved to before)."""
    a = _adata()
    m = get_model("gaussian")().fit(a, label_key="tissue")
    other = get_model("gaussian")().fit(_adata(seed=1), label_key="tissue", run_dir=tmp_path / "other")
    own = tmp_path / "own"
    own.mkdir()
    (own / "config.toml").write_text("[train]\nsteps = 300\n")
    recon = tmp_path / "recon"
    recon.mkdir()
    (recon / "config.toml").write_text('model = "reconstruct"\n')
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "bench.json").write_text("{}")
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "weights.safetensors").write_bytes(b"x")
    for folder, what in ((tmp_path / "other", "a 'gaussian' run"), (own, "a config.toml of your own"),
                         (recon, "a reconstructor"), (bench, "a benchmark"), (stray, "run files")):
        before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        with pytest.raises(RunDirError, match=f"holds {what}.*save into a new folder"):
            m.save(folder)
        assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    m.save(tmp_path / "new")
    m.save(tmp_path / "new")   # its own folder: rewritten
    other.save(tmp_path / "other")   # the folder it was trained into
    back = load(tmp_path / "other")
    back.save(tmp_path / "other")   # the folder it was loaded from
    # a folder with files of no rnagen command is written beside them
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("mine")
    m.save(tmp_path / "notes")
    assert (tmp_path / "notes" / "readme.txt").read_text() == "mine"


def test_a_second_fit_reports_its_own_training_time():
    m = get_model("gaussian")()
    m.fit(_adata(n_per=60), label_key="tissue")
    m.train_seconds = 1e6   # as if the first fit had taken long
    m.fit(_adata(n_per=60, seed=2), label_key="tissue")
    assert m.train_seconds < 1e5


def test_logged_input_is_not_logged_twice():
    a = _adata(raw=False)
    set_log_state(a, logged=True, transform="log2(x+1)")
    m = get_model("gaussian")().fit(a, label_key="tissue")
    assert m.pipeline.spec == "nonnegative+standard"   # log values >= 0: the support step, no second log
    # the synthetic set carries the data's log record, its pseudocount included, and the base its transform names
    set_log_state(a, logged=True, transform="log2(x+1)", pseudocount=1.0)
    rec = get_model("gaussian")().fit(a, label_key="tissue").sample(n=4, seed=0).uns["rnagen"]["log"]
    assert rec == {"logged": True, "transform": "log2(x+1)", "pseudocount": 1.0, "base": 2.0}
    m2 = get_model("gaussian").from_config(overrides=["preprocess.log=none", "preprocess.scaler=none",
                                                      "preprocess.support=any"])
    assert m2.fit(a, label_key="tissue").pipeline.spec == "identity"
    # counts put back into X after the record: refused, not trained on as if logged
    raw = _adata(raw=True)
    set_log_state(raw, logged=True, transform="log2(x+1)")
    with pytest.raises(DataError, match="the data's record says log scale .* X was replaced after the record"):
        get_model("gaussian")().fit(raw, label_key="tissue")


def test_generated_values_stay_on_the_data_s_support(tmp_path):
    """Log2(x+1) values prepared upstream, with the point mass at 0 real expression has: the per-class Gaussian
    puts mass below 0, which the pipeline's ``nonnegative`` step clips to 0 (kept in the run folder); with
    ``preprocess.support=any`` the values below 0 stay; data that can be negative (z-scores) get no step, and
    ``support=nonnegative`` on them is refused by name."""
    a = _adata(raw=False)
    a.X[a.X < 2.0] = 0.0                      # a quarter of the liver values: not expressed
    set_log_state(a, logged=True, transform="log2(x+1)")
    m = get_model("gaussian")().fit(a, label_key="tissue", run_dir=tmp_path / "run")
    assert m.pipeline.spec == "nonnegative+standard"
    syn = m.sample(n_per_label=2000, seed=3)
    liver = syn.X[syn.obs["tissue"] == "liver"]
    share = (a.X[(a.obs["tissue"] == "liver").to_numpy()] == 0).mean()
    assert syn.X.min() == 0.0 and abs((liver == 0).mean() - share) < 0.03   # the point mass at zero
    np.testing.assert_array_equal(load(tmp_path / "run").sample(n_per_label=2000, seed=3).X, syn.X)
    free = get_model("gaussian").from_config(overrides=["preprocess.support=any"]).fit(a, label_key="tissue")
    raw = free.sample(n_per_label=2000, seed=3).X
    assert free.pipeline.spec == "standard" and raw.min() < -0.5 and free.zero_threshold is None
    clip = get_model("gaussian").from_config(overrides=["preprocess.zeros=clip"]).fit(a, label_key="tissue")
    np.testing.assert_allclose(clip.sample(n_per_label=2000, seed=3).X, np.maximum(raw, 0), atol=1e-5)  # clipped
    z = a.copy()
    z.X = (z.X - z.X.mean(0)) / z.X.std(0)     # z-scores: negative values are data
    set_log_state(z, logged=True, transform="z-score")
    assert get_model("gaussian")().fit(z, label_key="tissue").pipeline.spec == "standard"
    with pytest.raises(DataError, match="preprocess.support=nonnegative but the training data have .* below 0"):
        get_model("gaussian").from_config(overrides=["preprocess.support=nonnegative"]).fit(z, label_key="tissue")


def _zero_inflated(n_per=200, seed=1):
    """Log2(x+1) values whose zeros depend on the class: G0 is 0 in half the liver profiles and in none of the
    brain ones, G1 in a quarter of the brain ones, G2 in every liver profile."""
    a = _adata(n_per=n_per, raw=False, seed=seed)
    rng = np.random.default_rng(seed)
    liver = np.flatnonzero(a.obs["tissue"] == "liver")
    brain = np.flatnonzero(a.obs["tissue"] == "brain")
    a.X[rng.choice(liver, n_per // 2, replace=False), 0] = 0.0
    a.X[rng.choice(brain, n_per // 4, replace=False), 1] = 0.0
    a.X[liver, 2] = 0.0
    set_log_state(a, logged=True, transform="log2(x+1)")
    return a


def _zero_shares(adata):
    return np.stack([(np.asarray(adata.X)[(adata.obs["tissue"] == c).to_numpy()] == 0).mean(0)
                     for c in ("liver", "brain")])


def test_each_class_s_zeros_fall_where_the_data_s_do(tmp_path):
    """``preprocess.zeros=match`` (the default): each class's share of exact zeros per gene is the training
    data's, where the clip alone gives the model's mass below 0 (a Gaussian fitted to half zeros, half values
    near 2 puts about a fifth below 0); the zeros fall on the network's lowest values of the same draw, the
    other values are the clipped draw's, and the thresholds live in the run folder."""
    a = _zero_inflated()
    want = _zero_shares(a)
    m = get_model("gaussian")().fit(a, label_key="tissue", run_dir=tmp_path / "run")
    assert m.zero_threshold.shape == (2, 6)
    syn = m.sample(n_per_label=4000, seed=3)
    got = _zero_shares(syn)
    np.testing.assert_allclose(got, want, atol=0.03)
    assert got[0, 2] == 1.0 and got[1, 0] == 0.0 and got[0, 3:].max() == 0.0   # all, and none beyond the clip's
    clip = get_model("gaussian").from_config(overrides=["preprocess.zeros=clip"]).fit(a, label_key="tissue")
    clipped = clip.sample(n_per_label=4000, seed=3)
    assert clip.zero_threshold is None and _zero_shares(clipped)[0, 0] < 0.35   # the clip alone misses it
    kept = syn.X != 0
    np.testing.assert_array_equal(syn.X[kept], clipped.X[kept])             # the same draw ...
    liver0 = (syn.obs["tissue"] == "liver").to_numpy()
    below = clipped.X[liver0, 0]
    assert below[~kept[liver0, 0]].max() <= below[kept[liver0, 0]].min()     # ... zero on its lowest values
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["zeros"]["calibration_per_class"] == 256
    np.testing.assert_array_equal(load(tmp_path / "run").sample(n_per_label=4000, seed=3).X, syn.X)
    plain = _adata(raw=False)
    set_log_state(plain, logged=True, transform="log2(x+1)")
    assert m.fit(plain, label_key="tissue").zero_threshold is None   # a refit on data without zeros places none


def test_mirror_gives_no_zeros_where_a_class_has_none(tmp_path):
    """``preprocess.zeros=mirror``: in a class and gene whose training values hold no zero but sit just above it,
    the model's mass below the edge is mirrored above it, not clipped to zeros the class never has; the classes'
    zeros elsewhere fall as with ``match``, and the rest of the draw is the same. On a floor other than 0 (log2(x +
    0.001)) the mirror is about the floor."""
    a = _zero_inflated()
    rng = np.random.default_rng(4)
    brain = (a.obs["tissue"] == "brain").to_numpy()
    a.X[brain, 3] = 0.005 + rng.exponential(0.1, int(brain.sum()))   # expressed in every brain profile, just above 0
    want = _zero_shares(a)
    assert want[1, 3] == 0.0
    match = get_model("gaussian")().fit(a, label_key="tissue")
    mirror = get_model("gaussian").from_config(overrides=["preprocess.zeros=mirror"]).fit(
        a, label_key="tissue", run_dir=tmp_path / "run")
    got_match, syn = match.sample(n_per_label=4000, seed=3), mirror.sample(n_per_label=4000, seed=3)
    assert _zero_shares(got_match)[1, 3] > 0.05   # the clip's zeros in a class without any
    got = _zero_shares(syn)
    assert got[1, 3] == 0.0 and syn.X.min() >= 0
    np.testing.assert_allclose(got, want, atol=0.03)
    changed = np.asarray(syn.X) != np.asarray(got_match.X)
    assert changed[:, 3].any() and not changed[:, [0, 1, 2, 4, 5]].any()   # only the mirrored cells differ
    assert (np.asarray(syn.X)[changed] > 0).all() and (np.asarray(got_match.X)[changed] == 0).all()
    np.testing.assert_array_equal(load(tmp_path / "run").sample(n_per_label=4000, seed=3).X, syn.X)
    floored = a.copy()
    floored.X = np.log2(np.exp2(np.asarray(a.X, np.float64)) - 1 + 0.001).astype(np.float32)
    set_log_state(floored, logged=True, transform="log2(x+0.001)")
    fl = np.float32(floored.X.min())
    m = get_model("gaussian").from_config(overrides=["preprocess.zeros=mirror"]).fit(floored, label_key="tissue")
    out = m.sample(n_per_label=4000, seed=3)
    at_floor = np.asarray(out.X) == fl
    assert np.asarray(out.X).min() == fl and at_floor[(out.obs["tissue"] == "liver").to_numpy(), 2].all()
    assert not at_floor[(out.obs["tissue"] == "brain").to_numpy(), 3].any()
    with pytest.raises(ConfigError, match="preprocess.zeros=mirror reads each class's share of zeros"):
        get_model("gaussian").from_config(overrides=["privacy.epsilon=10", "preprocess.zeros=mirror"])


def test_a_floor_below_zero_is_the_data_s_point_mass(tmp_path):
    """log2(x + 0.001) data (UCSC Xena's TPM: not expressed is -9.966, no value below): the floor is found, the
    samples stay at or above it, each class's share of values at the floor is the data's, the floor lives in the
    run folder; z-scores (a unique minimum) and a private model get no floor."""
    a = _zero_inflated()
    a.X = np.log2(np.exp2(np.asarray(a.X, np.float64)) - 1 + 0.001).astype(np.float32)
    set_log_state(a, logged=True, transform="log2(x+0.001)")
    floor = float(a.X.min())
    assert floor == pytest.approx(np.log2(0.001), abs=1e-5)
    m = get_model("gaussian")().fit(a, label_key="tissue", run_dir=tmp_path / "run")
    assert m.pipeline.spec == "floor+standard" and m.pipeline.steps[0].floor == floor
    syn = m.sample(n_per_label=4000, seed=3)
    assert syn.X.min() == np.float32(floor)

    def shares(d):
        return np.stack([(np.asarray(d.X)[(d.obs["tissue"] == c).to_numpy()] == np.float32(floor)).mean(0)
                         for c in ("liver", "brain")])

    np.testing.assert_allclose(shares(syn), shares(a), atol=0.03)
    np.testing.assert_array_equal(load(tmp_path / "run").sample(n_per_label=4000, seed=3).X, syn.X)
    free = get_model("gaussian").from_config(overrides=["preprocess.support=any"]).fit(a, label_key="tissue")
    assert free.pipeline.spec == "standard" and free.sample(n_per_label=500, seed=3).X.min() < floor
    private = get_model("gaussian").from_config(overrides=["privacy.epsilon=10"]).fit(a, label_key="tissue")
    assert private.pipeline.spec == "standard"
    z = a.copy()
    z.X = (z.X - z.X.mean(0)) / z.X.std(0)
    assert get_model("gaussian")().fit(z, label_key="tissue").pipeline.spec == "standard"


def test_a_floor_above_zero_is_the_data_s_point_mass():
    """Logged values raised to a detection limit (intensities floored at 10 before log2(x+1)): the floor is
    found above 0 (not the clip at 0, which would let samples between 0 and the floor), the samples stay at or
    above it, and each class's share at the floor is the data's; logged data with a unique positive minimum keep
    the clip at 0."""
    a = _zero_inflated()
    floor = np.float32(np.log2(11.0))
    a.X = np.maximum(np.asarray(a.X, np.float32) + 2.0, floor)
    set_log_state(a, logged=True, transform="log2(max(x, 10) + 1)")
    assert (a.X == floor).mean() > 0.05
    m = get_model("gaussian")().fit(a, label_key="tissue")
    assert m.pipeline.spec == "floor+standard" and m.pipeline.steps[0].floor == float(floor)
    syn = m.sample(n_per_label=4000, seed=3)
    assert syn.X.min() == floor

    def shares(d):
        return np.stack([(np.asarray(d.X)[(d.obs["tissue"] == c).to_numpy()] == floor).mean(0)
                         for c in ("liver", "brain")])

    # matched through a calibration draw of 256 profiles per class: a quantile's own noise is ~2 points
    diff = np.abs(shares(syn) - shares(a))
    assert diff.mean() < 0.025 and diff.max() < 0.07
    old = get_model("gaussian").from_config(overrides=["preprocess.support=nonnegative"]).fit(a, label_key="tissue")
    assert old.pipeline.spec == "nonnegative+standard" and old.sample(n_per_label=500, seed=3).X.min() < floor
    u = a.copy()
    u.X = np.asarray(u.X) + np.random.default_rng(0).uniform(0, 1e-3, u.X.shape).astype(np.float32)
    assert get_model("gaussian")().fit(u, label_key="tissue").pipeline.spec == "nonnegative+standard"


def test_zero_matching_is_not_read_from_the_data_of_a_private_model():
    """The per-class shares are statistics of the training data outside the DP guarantee: ``auto`` clips only
    for a private model, and ``match`` with privacy is refused by name before anything is trained."""
    a = _zero_inflated()
    private = get_model("gaussian").from_config(overrides=["privacy.epsilon=10"]).fit(a, label_key="tissue")
    assert private.zero_threshold is None and private.pipeline.spec == "nonnegative+standard"
    with pytest.raises(ConfigError, match="preprocess.zeros=match reads each class's share of zeros"):
        get_model("gaussian").from_config(overrides=["privacy.epsilon=10", "preprocess.zeros=match"])
    with pytest.raises(ConfigError, match="preprocess.zeros"):
        get_model("gaussian").from_config(overrides=["preprocess.zeros=inflate"])


@pytest.mark.parametrize("breaker,msg", [
    (lambda a: a.obs.drop(columns="tissue", inplace=True), "no label column 'tissue'"),
    (lambda a: a.X.__setitem__((3, 2), np.nan), "NaN/inf"),
])
def test_bad_training_input(breaker, msg):
    a = _adata()
    breaker(a)
    with pytest.raises(DataError, match=msg):
        get_model("gaussian")().fit(a, label_key="tissue")


def test_class_with_one_sample_is_refused():
    a = _adata()
    obs = a.obs.copy()
    obs["tissue"] = obs["tissue"].cat.add_categories("lonely")
    obs.iloc[0, 0] = "lonely"
    a.obs = obs
    with pytest.raises(DataError, match="fewer than 2 samples.*lonely"):
        get_model("gaussian")().fit(a, label_key="tissue")
    # a number per sample taken for classes (age): named as such, not a line listing every value
    a.obs["age"] = np.random.default_rng(0).uniform(20, 80, a.n_obs).round(1)
    with pytest.raises(DataError, match=r"^the labels of 'age' look like a continuous value, not classes") as e:
        get_model("gaussian")().fit(a, label_key="age")
    assert len(str(e.value)) < 300
    a.obs["id"] = [f"p{i}" for i in range(a.n_obs)]   # a label per sample, not numbers: 8 named, the rest counted
    with pytest.raises(DataError, match=r"^120 class\(es\) of 'id' have fewer than 2 samples: 'p0' \(1\), .* and 112 "
                                        r"more"):
        get_model("gaussian")().fit(a, label_key="id")


def test_one_label_in_two_unicode_forms_is_one_class(tmp_path):
    """'Café' composed (NFC) and decomposed (NFD, as macOS file names and some exports write it) look alike and
    are one class: read from a file, fitted from memory, asked for by name in either form."""
    import unicodedata
    import warnings

    from rnagen.data import read

    nfc, nfd = unicodedata.normalize("NFC", "Café"), unicodedata.normalize("NFD", "Café")
    assert nfc != nfd
    a = _adata()
    forms = np.where(np.arange(a.n_obs) % 2 == 0, nfc, nfd)
    a.obs["tissue"] = np.where(a.obs["tissue"].astype(str) == "liver", forms, "brain")
    m = get_model("gaussian")().fit(a, label_key="tissue")
    assert m.labels == [nfc, "brain"]
    assert sorted(m.label_counts.tolist()) == [60, 60]
    # a categorical column with both forms as categories: one class, in the column's category order
    a.obs["tissue"] = pd.Categorical(a.obs["tissue"], categories=[nfd, "brain", nfc])
    m = get_model("gaussian")().fit(a, label_key="tissue")
    assert m.labels == [nfc, "brain"]
    # the model's label asked for in the other form
    y = label_plan(m.labels, m.label_counts, counts={nfd: 3, "brain": 1})
    assert np.bincount(y, minlength=2).tolist() == [3, 1]
    with pytest.raises(DataError, match=r"given more than once, as two forms of one text"):
        label_plan(m.labels, m.label_counts, counts={nfd: 3, nfc: 1})
    # two profiles of one class, one in each form: a class of two, not two classes of one
    from rnagen.pp import filter_classes

    b = _adata()
    b.obs["tissue"] = ["brain"] * (b.n_obs - 2) + [nfc, nfd]
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # one class, not two "differing only in case or spacing"
        assert get_model("gaussian")().fit(b, label_key="tissue").label_counts.tolist() == [2, b.n_obs - 2]
    assert filter_classes(b, "tissue", min_samples=2).n_obs == b.n_obs
    # a split stratifies the two forms as one class, and both parts name it in the composed form
    from rnagen.pp import split

    a.obs["tissue"] = np.where(a.obs["tissue"].astype(str) == "brain", "brain", forms)
    parts = split(a, label_key="tissue", test_size=0.25, seed=0)
    for part, n in zip(parts, (45, 15)):
        assert list(part.obs["tissue"].cat.categories) == [nfc, "brain"]
        assert (part.obs["tissue"] == nfc).sum() == n
    # a CSV holding both forms, read as one class
    X = np.asarray(a.X)
    df = pd.DataFrame(X, index=a.obs_names, columns=a.var_names)
    df.insert(0, "tissue", np.where(np.arange(a.n_obs) < 60, forms, "brain"))
    df.to_csv(tmp_path / "d.csv")
    r = read(tmp_path / "d.csv", label_key="tissue")
    assert sorted(r.obs["tissue"].cat.categories) == sorted([nfc, "brain"])


def test_classes_differing_only_in_case_are_trained_apart_with_a_warning(tmp_path, capsys):
    """'liver'/'Liver' typed by hand: most likely one class, which the model would generate apart; the API warns,
    `rnagen train` says so in its summary line (no Python warning)."""
    import warnings

    from rnagen.cli.main import main

    a = _adata()
    a.obs["tissue"] = a.obs["tissue"].astype(str).where(np.arange(a.n_obs) % 4 != 0, "Liver")
    with pytest.warns(UserWarning, match=r"differ only in case or spacing are trained as separate classes "
                                         r"\('Liver'/'liver'\)"):
        m = get_model("gaussian")().fit(a, label_key="tissue")
    assert m.n_labels == 3
    b = _adata()
    with warnings.catch_warnings():
        # one class per spelling-distinct label: no warning (rnagen's are UserWarnings; the libraries' own
        # deprecation notices are not this test's)
        warnings.simplefilter("error", UserWarning)
        get_model("gaussian")().fit(b, label_key="tissue")
    a.write_h5ad(tmp_path / "d.h5ad")
    assert main(["train", str(tmp_path / "d.h5ad"), "--model", "gaussian", "--label-key", "tissue",
                 "--out", str(tmp_path / "run")]) == 0
    cap = capsys.readouterr()
    assert "1 set of classes that differ only in case or spacing, kept apart ('Liver'/'liver')" in cap.out
    assert "UserWarning" not in cap.err


def test_unknown_model_and_incomplete_run_folder(tmp_path):
    with pytest.raises(ConfigError, match="unknown model 'nope'.*gaussian"):
        get_model("nope")
    (tmp_path / "config.toml").write_text('model = "gaussian"\n')
    with pytest.raises(RunDirError, match="missing"):
        load(tmp_path)


@pytest.mark.parametrize("bad", [np.nan, "", "   ", "nan", "NA"])
def test_fit_refuses_missing_labels_of_a_python_anndata(bad):
    """A label that is empty, blank or a NaN token is missing, never a class called 'nan'."""
    rng = np.random.default_rng(0)
    labels = np.array(["a", "b"] * 5, dtype=object)
    labels[3] = bad
    adata = ad.AnnData(rng.normal(size=(10, 4)).astype(np.float32),
                       obs=pd.DataFrame({"y": labels}, index=[f"s{i}" for i in range(10)]))
    with pytest.raises(DataError, match="1 of 10 samples have no 'y' label.*'s3'"):
        get_model("gaussian")().fit(adata, label_key="y")


_SMALL = {"diffusion": ["network.width=16", "network.depth=1", "network.time_dim=8", "schedule.T=50",
                        "sample.steps=5", "train.batch_size=32", "train.steps=60", "train.val_every=20"],
          "vae": ["network.hidden=[16]", "network.latent_dim=4", "train.steps=40"],
          "wgan-gp": ["network.generator_hidden=[16]", "network.critic_hidden=[16]", "train.steps=40"],
          "gaussian": []}


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("model", ["diffusion", "vae", "wgan-gp", "gaussian"])
def test_a_gene_constant_in_every_profile_is_sampled_at_its_value(model, tmp_path):
    """A gene at one value (3.0) in every training profile comes back at exactly that value from every model
    (a network's output reaches it only up to its error), also from the saved run folder; a private model, whose
    value would be read outside its guarantee, does not pin it."""
    a = _adata(raw=False)
    X = np.asarray(a.X).copy()
    X[:, 2] = 3.0
    a.X = X
    set_log_state(a, logged=True, transform="log2(x+1)")
    m = get_model(model).from_config(overrides=_SMALL[model]).fit(a, label_key="tissue", seed=0, progress=False,
                                                                   run_dir=tmp_path / "run")
    assert m.constant is not None and m.constant[0].tolist() == [2]
    s = m.sample(n_per_label=50, seed=1)
    assert (np.asarray(s.X)[:, 2] == np.float32(3.0)).all()
    assert np.asarray(s.X)[:, [0, 1, 3]].std(axis=0).min() > 0.05     # the other genes keep their spread
    np.testing.assert_array_equal(load(tmp_path / "run").sample(n_per_label=50, seed=1).X, s.X)
    if model == "gaussian":
        private = get_model("gaussian").from_config(overrides=["privacy.epsilon=10"]).fit(a, label_key="tissue")
        assert private.constant is None


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("model", ["diffusion", "vae", "wgan-gp", "gaussian"])
def test_a_gene_constant_within_a_class_is_sampled_at_its_value_in_that_class(model, tmp_path):
    """A gene at 5.0 in every training profile of one class (a value a pipeline clipped or imputed, a detection
    limit), varying in the other, was spread around 5.0 in the first class's samples (the Gaussian's shrunk
    variance, a network's error); now that class's samples hold exactly 5.0 there, as its exact zeros would be, also
    from the saved run folder, and nothing else changes: the other class's samples, and the first class's other
    genes, are the model's draws as they are without the placement. A private model does not place it (the value
    would be released without noise)."""
    a = _adata(raw=False)
    X = np.asarray(a.X).copy()
    liver = (a.obs["tissue"] == "liver").to_numpy()
    X[liver, 2] = 5.0
    a.X = X
    set_log_state(a, logged=True, transform="log2(x+1)")
    m = get_model(model).from_config(overrides=_SMALL[model]).fit(a, label_key="tissue", seed=0, progress=False,
                                                                   run_dir=tmp_path / "run")
    s = m.sample(n_per_label=200, seed=1)
    S = np.asarray(s.X)
    drawn_liver = (s.obs["tissue"] == "liver").to_numpy()
    assert (S[drawn_liver, 2] == np.float32(5.0)).all()
    assert S[~drawn_liver, 2].std() > 0.05                                 # brain keeps its spread
    assert m.constant is None and np.flatnonzero(~np.isnan(m.class_constant)).tolist() == [2]  # liver, gene 2
    np.testing.assert_array_equal(load(tmp_path / "run").sample(n_per_label=200, seed=1).X, S)
    m.class_constant = None
    free = np.asarray(m.sample(n_per_label=200, seed=1).X)
    np.testing.assert_array_equal(free[~drawn_liver], S[~drawn_liver])
    np.testing.assert_array_equal(np.delete(free[drawn_liver], 2, axis=1), np.delete(S[drawn_liver], 2, axis=1))
    if model == "gaussian":
        assert np.abs(free[drawn_liver, 2] - 5.0).max() > 1e-3            # the spread the placement removes
        brain = X[~liver, 2]
        assert abs(S[~drawn_liver, 2].mean() - brain.mean()) < 0.2 and abs(S[~drawn_liver, 2].std() - brain.std()) < 0.2
        private = get_model("gaussian").from_config(overrides=["privacy.epsilon=10"]).fit(a, label_key="tissue")
        assert private.class_constant is None
        p = private.sample(n_per_label=20, seed=1)
        assert np.asarray(p.X)[(p.obs["tissue"] == "liver").to_numpy(), 2].std() > 0


def test_a_class_of_two_profiles_places_no_shared_value():
    """Two profiles of whole-number counts share low counts by chance, and every value the two share placed in all
    of the class's samples pulls them toward those two training profiles: classes under CLASS_CONSTANT_MIN profiles
    place nothing; a larger class's shared value still is."""
    a = _adata(n_per=30, raw=False)
    X = np.asarray(a.X).copy()
    X[:30, 3] = 5.0                                   # liver: 30 profiles share gene 3's value
    keep = np.r_[np.arange(30), 30, 31]               # brain: two profiles, agreeing on gene 1
    X[31, 1] = X[30, 1]
    b = a[keep].copy()
    b.X = X[keep]
    set_log_state(b, logged=True, transform="log2(x+1)")
    m = get_model("gaussian")().fit(b, label_key="tissue", seed=0)
    assert np.flatnonzero(~np.isnan(m.class_constant[0])).tolist() == [3]
    assert np.isnan(m.class_constant[1]).all()
    S = np.asarray(m.sample(n_per_label=50, seed=1).X)
    assert (S[:50, 3] == np.float32(5.0)).all() and (S[50:, 1] != X[30, 1]).any()


def test_samples_that_are_not_finite_are_refused(tmp_path, monkeypatch):
    """A model whose output holds NaN (weights that went NaN) or whose values overflow when the transforms are
    inverted is refused in one line naming how many profiles, not written out to fail a later step; the CLI's
    output file is not created."""
    from rnagen.cli.main import main
    from rnagen.errors import DivergedError

    m = get_model("gaussian")().fit(_adata(raw=True), label_key="tissue", run_dir=tmp_path / "run")
    cls = type(m)
    real = cls._sample

    def nan_rows(self, y, **kw):
        Z = real(self, y, **kw)
        Z[:3, 1] = np.nan
        return Z

    monkeypatch.setattr(cls, "_sample", nan_rows)
    with pytest.raises(DivergedError, match=r"the gaussian model's samples hold 3 NaN or infinite values \(3 of 20 "
                                          r"profiles\): its weights are not finite"):
        m.sample(n=20, seed=0)
    assert main(["sample", str(tmp_path / "run"), "--n", "20", "--out", str(tmp_path / "s.h5ad")]) == 2
    assert not (tmp_path / "s.h5ad").exists()

    def huge(self, y, **kw):
        Z = real(self, y, **kw)
        Z[0, 0] = 1e30   # finite in the model's space, 2^(1e30) in the data's
        return Z

    monkeypatch.setattr(cls, "_sample", huge)
    # bounded above (the training maximum and its margin): the value is cut and the cut recorded
    assert m.sample(n=20, seed=0).uns["rnagen"]["synthetic"]["clipped_above"]["share"] == pytest.approx(1 / 120)
    m.upper = None   # a private model's, or a run saved before the bound
    with pytest.raises(DivergedError, match=r"samples in the data's units hold 1 NaN or infinite values \(1 of 20 "
                                          r"profiles\): values far outside"):
        m.sample(n=20, seed=0)


def test_the_data_digest_covers_every_profile_and_label():
    """A run's fingerprint (what a resume is checked against) changes with any value of any profile, past the
    first 256 too, and with the labels' order; not with a copy of the same data."""
    from rnagen.models import get_model

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 5)), rng.integers(0, 3, 300)
    m = get_model("gaussian")()
    m.labels = ["a", "b", "c"]
    base = m.fingerprint(X, y)
    assert m.fingerprint(X.copy(), y.copy()) == base
    late = X.copy()
    late[299, 4] += 1e-6
    assert m.fingerprint(late, y) != base
    swapped = y.copy()
    j = int(np.flatnonzero(y != y[0])[0])
    swapped[[0, j]] = swapped[[j, 0]]
    assert m.fingerprint(X, swapped) != base


def test_a_fit_that_fails_part_way_leaves_no_half_replaced_model():
    """A refit refused part-way (its data's scale) left the old weights under the new data's labels and genes,
    still 'fitted': sample() gave the old model's values named as the new ones. Now the model says it is not
    trained; fit() and sample(like=) given something other than an AnnData say what they take."""
    from rnagen import datasets
    from rnagen.errors import RnagenError
    from rnagen.models import get_model

    a = datasets.gtex26()
    tissues = list(a.obs["tissue"].cat.categories)
    first = a[a.obs["tissue"].isin(tissues[:3]).to_numpy(), :30].copy()
    m = get_model("gaussian")().fit(first, label_key="tissue")
    other = a[a.obs["tissue"].isin(tissues[3:6]).to_numpy(), 100:130].copy()
    del other.uns["rnagen"]
    X = np.asarray(other.X).copy()
    X[0, 0] = 35.0   # a value above the log range among log values: the scale test refuses the data
    other.X = X
    with pytest.raises(RnagenError):
        m.fit(other, label_key="tissue")
    assert not m.is_fitted
    with pytest.raises(RunDirError, match="not trained"):
        m.sample(n=4, seed=0)
    with pytest.raises(DataError, match="fit: give an AnnData .* not ndarray"):
        get_model("gaussian")().fit(np.ones((4, 3)), label_key="tissue")
    m = get_model("gaussian")().fit(first, label_key="tissue")
    with pytest.raises(DataError, match="like: give an AnnData or a data file"):
        m.sample(like=np.ones((4, 30)))


def test_counts_keyed_by_integer_classes():
    """A model trained on integer class codes keeps them as text ("1"); sample(counts={1: 2}) was told its labels
    differ 'only in case or spacing'. Keys are read as text too."""
    import anndata as ad
    import pandas as pd

    from rnagen.models import get_model

    rng = np.random.default_rng(0)
    a = ad.AnnData(rng.normal(5, 1, (40, 6)).astype(np.float32), obs=pd.DataFrame({"c": [1, 2] * 20}))
    m = get_model("gaussian")().fit(a, label_key="c")
    s = m.sample(counts={1: 2, 2: 3}, seed=0)
    assert s.obs["c"].astype(str).value_counts().to_dict() == {"2": 3, "1": 2}


def test_train_and_benchmark_take_the_recorded_label_column(tmp_path, capsys):
    """A file rnagen data prepare wrote records its label column: rnagen train and benchmark use it without
    --label-key (as evaluate does); a file recording none is refused naming --label-key."""
    from rnagen.cli.main import main

    a = _adata()
    a.uns["rnagen"] = {"label_key": "tissue"}
    a.write_h5ad(tmp_path / "d.h5ad")
    assert main(["train", str(tmp_path / "d.h5ad"), "--model", "gaussian", "--out", str(tmp_path / "run")]) == 0
    assert "labels: 'tissue' (the label column recorded in DATA)" in capsys.readouterr().out
    assert main(["benchmark", str(tmp_path / "d.h5ad"), "--models", "gaussian", "--metrics", "precision",
                 "--out", str(tmp_path / "bench"), "--quiet"]) == 0
    b = _adata()
    b.write_h5ad(tmp_path / "plain.h5ad")
    capsys.readouterr()
    assert main(["train", str(tmp_path / "plain.h5ad"), "--model", "gaussian", "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "records no label column; pass --label-key" in err
    assert "(its sample columns: 'tissue')" in err   # the column to name
    assert not (tmp_path / "r2").exists()


def test_numeric_classes_written_as_floats_are_the_model_s_classes():
    """A model trained on integer classes (1, 2, 10) refused like= data holding them as floats (1.0, ...), as a
    float column holds them, and counts={1.0: n}; a file of them was read to the same labels."""
    a = _adata(n_per=20)
    a.obs["k"] = np.where(a.obs["tissue"] == "liver", 1, 10)
    m = get_model("gaussian")().fit(a, label_key="k")
    like = a.copy()
    like.obs["k"] = like.obs["k"].astype(float)
    y = label_plan(m.labels, m.label_counts, like=like, label_key="k")
    assert np.bincount(y).tolist() == [20, 20]
    assert m.sample(counts={1.0: 3, "10": 2}, seed=0).obs["k"].astype(str).tolist() == ["1"] * 3 + ["10"] * 2
    with pytest.raises(DataError, match="unknown label"):
        m.sample(counts={1.5: 3}, seed=0)


def test_generated_values_stay_within_reach_of_their_gene_s_training_values(tmp_path):
    """A gene at 0 or in the millions (its log2 standard deviation ~10) had the Gaussian draw values billions of
    times its largest training value; nothing past 8 times it (3 doublings) or 3 training standard deviations is
    generated, the share cut is recorded, and the bound is saved with the run."""
    rng = np.random.default_rng(0)
    a = _adata(n_per=60, genes=6)
    X = np.asarray(a.X).copy()
    X[:, 0] = np.where(rng.random(len(X)) < 0.5, 0.0, rng.uniform(1e6, 1e7, len(X)).round())
    a.X = X
    m = get_model("gaussian")().fit(a, label_key="tissue", run_dir=tmp_path / "run")
    s = m.sample(n_per_label=3000, seed=0)
    ratio = np.asarray(s.X) / np.maximum(X.max(axis=0), 1.0)
    assert ratio.max() <= 8.0 + 1e-3
    assert 0 < s.uns["rnagen"]["synthetic"]["clipped_above"]["share"] < 1 / 6   # gene 0 alone
    again = load(tmp_path / "run").sample(n_per_label=3000, seed=0)
    np.testing.assert_array_equal(again.X, s.X)
    # an ordinary gene is untouched: its draws as the unbounded model's
    free = get_model("gaussian")().fit(a, label_key="tissue")
    free.upper = None
    np.testing.assert_array_equal(np.asarray(free.sample(n_per_label=3000, seed=0).X)[:, 1:],
                                  np.asarray(s.X)[:, 1:])
    # a private model releases no statistic outside its guarantee: no bound from the training maximum
    private = get_model("gaussian").from_config(overrides=["privacy.epsilon=4"]).fit(a, label_key="tissue")
    assert private.upper is None


def test_a_stray_value_below_0_in_non_negative_data_is_said():
    """One value of -1 among 6,400 at 0 or above took the bound at 0 away from every generated value (13% of the
    samples below 0, none at 0), silently: a warning names it and the two ways on; data that are negative
    throughout (z-scores) and an explicit support=any get none."""
    import warnings

    rng = np.random.default_rng(0)
    X = np.maximum(rng.normal(1.0, 1.0, (80, 80)), 0.0).astype(np.float32)
    X[3, 5] = -1.0
    a = ad.AnnData(X, obs=pd.DataFrame({"c": ["a", "b"] * 40}, index=[f"s{i}" for i in range(80)]),
                   var=pd.DataFrame(index=[f"g{j}" for j in range(80)]))
    set_log_state(a, logged=True, transform="log2(x+1)")
    with pytest.warns(UserWarning, match=r"1 of the 6400 training values are below 0 \(the lowest -1, sample 's3', "
                                         r"gene 'g5'\).*--set preprocess.support=any"):
        get_model("gaussian")().fit(a, label_key="c")
    z = a.copy()
    z.X = rng.normal(0.0, 1.0, a.shape).astype(np.float32)
    for data, over in ((a, ["preprocess.support=any"]), (z, [])):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            get_model("gaussian").from_config(overrides=over).fit(data, label_key="c")


def test_a_class_too_rare_for_a_network_is_named():
    """A class of 2 among 1,449 profiles came out of the diffusion model at the large class's mean, with no
    word (and no profile of it in the validation hold-out): a learned model names classes under 2% of the
    profiles; the per-class Gaussian, which fits each class on its own, does not."""
    import warnings

    rng = np.random.default_rng(1)
    y = ["big"] * 198 + ["rare"] * 2
    a = ad.AnnData(rng.normal(3.0, 1.0, (200, 6)).astype(np.float32),
                   obs=pd.DataFrame({"c": y}, index=[f"s{i}" for i in range(200)]),
                   var=pd.DataFrame(index=[f"g{j}" for j in range(6)]))
    set_log_state(a, logged=True, transform="log2(x+1)")
    with pytest.warns(UserWarning, match=r"1 class\(es\) hold under 2% of the 200 training profiles \('rare' \(2\)\): "
                                         r"drawn into the batches as often as a class of 2% \(train.rare_share\), "
                                         r"the vae model learns them from few profiles"):
        get_model("vae").from_config(overrides=["train.steps=2"]).fit(a, label_key="c", device="cpu")
    with pytest.warns(UserWarning, match=r"\('rare' \(2\)\): the vae model learns them from few profiles"):
        get_model("vae").from_config(overrides=["train.steps=2", "train.rare_share=0"]).fit(a, label_key="c",
                                                                                             device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        get_model("gaussian")().fit(a, label_key="c")


def test_wrong_types_are_refused_with_rnagen_errors(tmp_path):
    G = get_model("gaussian")
    a = _adata(n_per=6, genes=4)
    with pytest.raises(DataError, match=r"^label_key must be the name of a sample \(obs\) column, a str, not \['t"):
        G().fit(a, label_key=["tissue"])
    with pytest.raises(ConfigError, match=r"^fit: run_dir must be a path \(a str or pathlib.Path\), not int"):
        G().fit(a, label_key="tissue", run_dir=5)
    for overrides in (5, [5]):
        with pytest.raises(ConfigError, match="^overrides are 'key=value' strings"):
            G.from_config(overrides=overrides)
    with pytest.raises(ConfigError, match="^a configuration is the path of a TOML file or a dict of its keys, "
                                          "not list"):
        G.from_config(toml=["a.toml"])
    m = G().fit(a, label_key="tissue")
    for counts in (5, ["liver"]):
        with pytest.raises(ConfigError, match=rf"^counts must be a dict of label -> number of profiles, not "
                                              rf"{type(counts).__name__}"):
            m.sample(counts=counts)
    # a count under another keyword names the argument that says it, not "no sampler options"
    for kw, arg in (("labels", "counts="), ("n_samples", "n="), ("n_per_class", "n_per_label=")):
        with pytest.raises(ConfigError, match=rf"^sample\(\) takes no '{kw}': say how many profiles with {arg}"):
            m.sample(**{kw: {"liver": 3} if kw == "labels" else 3})
    with pytest.raises(ConfigError, match=r"^run folder must be a path \(a str or pathlib.Path\), not int"):
        m.save(5)
    with pytest.raises(ConfigError, match=r"^load: the run folder must be a path \(a str or pathlib.Path\), not int"):
        load(5)
    assert load(m.save(tmp_path / "run")).n_genes == 4   # a pathlib.Path is a path


@pytest.mark.parametrize("base", [2.0, float(np.e)])
def test_log_scale_training_data_keep_their_base_in_samples_and_bound(base):
    """Training data recorded as log_b(x+1) (scanpy's natural log1p, or log2): the model's ceiling above each
    gene's largest value is UPPER_MARGIN log2 units in the data's own units (3 * ln 2 on the natural log, not 3
    nats, which is 4.3 log2 units), and the samples carry the record with its base and scanpy's uns['log1p'], so
    neither rnagen nor scanpy logs them again."""
    from rnagen.models import get_model
    from rnagen.models._base import UPPER_MARGIN
    from rnagen.pp import set_log_state

    a = _adata(raw=False)
    a.X = (a.X / np.log2(base)).astype(np.float32)   # log_b of the same expression
    name = "log2(x+1)" if base == 2.0 else "ln(x+1)"
    set_log_state(a, logged=True, transform=name, pseudocount=1.0, base=base)
    m = get_model("gaussian")().fit(a, label_key="tissue")
    ceiling = m.pipeline.inverse_transform(m.upper[None, :])[0]
    np.testing.assert_allclose(ceiling - a.X.max(axis=0), UPPER_MARGIN / np.log2(base), rtol=1e-4)
    s = m.sample(n=4, seed=0)
    assert s.uns["rnagen"]["log"]["base"] == pytest.approx(base) and s.uns["rnagen"]["log"]["transform"] == name
    assert s.uns["log1p"] == {"base": None if base != 2.0 else 2.0}
    assert list(s.layers) == [] and s.raw is None and list(s.obs.columns) == ["tissue"]


def test_fit_reads_scanpy_s_log1p_record_of_an_in_memory_anndata_as_a_file_s():
    """An AnnData given to fit in memory whose only record of its log is scanpy's ``uns["log1p"]`` (the natural
    log): the model's record of its data is ln(x+1), base e, as for the file read from disk (which their range
    alone cannot tell from log2), and the caller's object is not changed."""
    import math

    from rnagen.pp.history import log_state

    rng = np.random.default_rng(0)
    a = ad.AnnData(np.log1p(rng.gamma(2.0, 50.0, (40, 6))).astype(np.float32),
                   obs=pd.DataFrame({"k": ["a", "b"] * 20}, index=[f"s{i}" for i in range(40)]),
                   var=pd.DataFrame(index=[f"G{j}" for j in range(6)]))
    a.uns["log1p"] = {"base": None}
    m = get_model("gaussian").from_config().fit(a, label_key="k", progress=False)
    assert m.data_log == {"logged": True, "transform": "ln(x+1) (scanpy's sc.pp.log1p, uns['log1p'])",
                          "pseudocount": 1.0, "base": math.e}
    assert log_state(a) is None and dict(a.uns) == {"log1p": {"base": None}}
