"""Property-based fuzzing of the readers: whatever bytes or table grammar a file holds, ``rnagen.data.read``
either returns a valid AnnData or raises :class:`rnagen.errors.RnagenError` (never another exception)."""
from __future__ import annotations

import codecs
import gzip
import os
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rnagen.data import read  # noqa: E402
from rnagen.errors import RnagenError  # noqa: E402

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)


def _read_bytes(data: bytes, name: str, **kw):
    """Write ``data`` to a fresh file called ``name`` and read it; returns the AnnData or the RnagenError."""
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, name)
        with open(p, "wb") as fh:
            fh.write(data)
        try:
            a = read(p, **kw)
        except RnagenError as e:
            assert "\n" not in str(e), f"multi-line error: {e!r}"
            return e
    _assert_valid(a, kw.get("label_key"))
    return a


def _assert_valid(a, label_key):
    X = np.asarray(a.X)
    assert X.dtype == np.float32 and X.ndim == 2 and X.size > 0
    assert np.isfinite(X).all()
    assert a.obs_names.is_unique and a.var_names.is_unique
    if label_key is not None:
        lab = a.obs[label_key]
        assert lab.dtype == "category" and not lab.isna().any()
        assert not any(str(c).strip() in ("", "nan") for c in lab.cat.categories)


NAMES = ["x.csv", "x.tsv", "x.txt", "x.gct", "x.csv.gz", "x.parquet", "x.h5ad", "x.dat"]


@FUZZ
@given(data=st.binary(max_size=600), name=st.sampled_from(NAMES))
def test_random_bytes_never_raise_anything_but_rnagen_errors(data, name):
    _read_bytes(data, name)


@FUZZ
@given(data=st.binary(max_size=300), prefix=st.sampled_from([b"\x1f\x8b", b"PAR1", b"\x89HDF\r\n\x1a\n", b"#1.2\n",
                                                             b"#1.3\n", codecs.BOM_UTF16_LE, codecs.BOM_UTF8,
                                                             b"X\n\x00\x00\x00\x03", b"RDX3\nX\n", b"ARROW1",
                                                             b"\x80\x04", b"\x93NUMPY", b"[CEL]\n", b"BAM\x01",
                                                             b"sep=;\n", b"##annotation=G026\n"]))
def test_random_bytes_after_a_magic_number(data, prefix):
    _read_bytes(prefix + data, "x.csv")


# ------------------------------------------------------------------------------------------ table grammars

_ID_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00")
IDS = st.one_of(
    st.sampled_from(["TP53", "EGFR", "MYC", "tp53", "7157", "ENSG00000141510.16", "hsa-let-7a-5p", "cg00000029",
                     "s1", "s2", "", " ", "NA", "nan", "id", "sample", "1", "1.5", "\"q\"", "a,b", "x\ty"]),
    st.text(_ID_CHARS, min_size=0, max_size=8),
)
NUMS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["", "NA", "nan", "NaN", "inf", "-inf", "1e300", "-1e309", "1,5", "0,25", "abc", " 3 ", "1.5.2",
                     "\"7\"", "1e-320", "TRUE"]),
)


@st.composite
def tables(draw):
    """A table as text: header + rows with random ids, separators, quoting, numbers and NaN tokens, sometimes
    ragged, sometimes with a label column."""
    sep = draw(st.sampled_from([",", "\t", ";", " ", "|"]))
    n_cols = draw(st.integers(1, 5))
    n_rows = draw(st.integers(0, 5))
    quote = draw(st.booleans())
    q = (lambda v: f'"{v}"') if quote else (lambda v: v)
    # half of the tables are well-formed apart from what the numbers draw (unique ids, plain numbers), so
    # the success path (a valid AnnData) is exercised too
    clean = draw(st.booleans())
    pool = ["TP53", "EGFR", "MYC", "hsa-let-7a-5p", "hsa-miR-21-5p", "7157", "1956", "ENSG00000141510"]
    if clean:
        header = ["id"] + draw(st.permutations(pool))[:n_cols]
        n_cols = len(header) - 1
    else:
        header = [draw(IDS) for _ in range(n_cols + 1)]
    with_label = draw(st.booleans())
    if with_label:
        header.append("label")
    lines = [sep.join(q(h) for h in header)]
    for i in range(n_rows):
        if clean:
            row = [f"s{i}"] + [draw(st.one_of(st.integers(-999, 10**6).map(str), st.floats(-1e6, 1e6).map(repr),
                                               NUMS)) for _ in range(n_cols)]
        else:
            row = [draw(IDS)] + [draw(NUMS) for _ in range(n_cols)]
        if with_label:
            row.append(draw(st.sampled_from(["a", "b", "", " ", "NA", "1", "2.0"])))
        if draw(st.integers(0, 9)) == 0:  # ragged
            row = row[:-1] if len(row) > 1 and draw(st.booleans()) else row + ["9"]
        lines.append(sep.join(q(v) for v in row))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    return eol.join(lines) + (eol if draw(st.booleans()) else ""), with_label


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "latin-1"]


@FUZZ
@given(t=tables(), enc=st.sampled_from(ENCODINGS), name=st.sampled_from(["x.csv", "x.tsv", "x.txt", "x.csv.gz"]),
       orientation=st.sampled_from(["auto", "samples_x_genes", "genes_x_samples"]))
def test_random_csv_tsv_tables(t, enc, name, orientation):
    text, with_label = t
    data = text.encode(enc, errors="replace")
    if name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    _read_bytes(data, name, orientation=orientation, label_key="label" if with_label else None)


@st.composite
def gct_files(draw):
    """GCT 1.2/1.3 text with random (sometimes wrong) dimension lines, metadata, ids and values."""
    version = draw(st.sampled_from(["#1.2", "#1.3"]))
    clean = draw(st.booleans())  # exact dimensions, unique ids: the success path is exercised too
    n_rows, n_cols = draw(st.integers(0 if not clean else 1, 4)), draw(st.integers(0 if not clean else 1, 4))
    n_rmeta = 1 if version == "#1.2" else draw(st.integers(1, 2))
    n_cmeta = 0 if version == "#1.2" else draw(st.integers(0, 2))
    off = (lambda: 0) if clean else (lambda: draw(st.sampled_from([0, 0, 0, 1, -1])))
    claimed = [n_rows + off(), n_cols + off()]
    if version == "#1.3":
        claimed += [n_rmeta + (0 if clean else draw(st.sampled_from([0, 0, 1]))),
                    n_cmeta + (0 if clean else draw(st.sampled_from([0, 0, 1])))]
    dims = "\t".join(map(str, claimed)) if clean or draw(st.integers(0, 9)) else draw(st.sampled_from(["", "x y", "3"]))
    samples = [f"s{i}" for i in range(n_cols)] if clean else [draw(IDS) for _ in range(n_cols)]
    genes = ["TP53", "EGFR", "MYC", "hsa-miR-1"][:n_rows] if clean else [draw(IDS) for _ in range(n_rows)]
    lines = [version, dims, "\t".join(["Name"] + [f"m{i}" for i in range(n_rmeta)] + samples)]
    for k in range(n_cmeta):
        lines.append("\t".join([f"meta{k}"] + ["na"] * n_rmeta + [draw(st.sampled_from(["a", "b", "", "1"]))
                                                                   for _ in range(n_cols)]))
    value = st.floats(-1e6, 1e6).map(repr) if clean else NUMS
    for gid in genes:
        row = [gid] + ["na"] * n_rmeta + [draw(value) for _ in range(n_cols)]
        if not clean and draw(st.integers(0, 9)) == 0:
            row = row[:-1]
        lines.append("\t".join(row))
    return "\n".join(lines) + "\n"


@FUZZ
@given(text=gct_files(), enc=st.sampled_from(ENCODINGS), label=st.sampled_from([None, "meta0"]))
def test_random_gct_files(text, enc, label):
    _read_bytes(text.encode(enc, errors="replace"), "x.gct", label_key=label)


@FUZZ
@given(t=tables(), labels=st.lists(st.sampled_from(["a", "b", "", " ", "NA", "1", "\"q\"", "x,y"]), max_size=6),
       header=st.booleans(), sep=st.sampled_from([",", "\t"]))
def test_random_label_files(t, labels, header, sep):
    text, _ = t
    with tempfile.TemporaryDirectory() as d:
        p, lp = os.path.join(d, "x.csv"), os.path.join(d, "labels.csv")
        with open(p, "w", encoding="utf-8") as fh:
            fh.write(text)
        rows = (["sample" + sep + "grp"] if header else []) + [f"s{i}{sep}{v}" for i, v in enumerate(labels)]
        with open(lp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(rows) + "\n")
        try:
            a = read(p, labels=lp)
        except RnagenError:
            return
    _assert_valid(a, [c for c in a.obs.columns][-1] if a.obs.shape[1] else None)


def _hdf5_bytes(fill) -> bytes:
    """The bytes of an HDF5 file that ``fill(h5py.File)`` writes."""
    import h5py

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.h5")
        with h5py.File(p, "w") as f:
            fill(f)
        with open(p, "rb") as fh:
            return fh.read()


def test_damaged_gctx_files():
    """A CMap GCTX file cut short or with bytes overwritten (metadata, chunk index, compressed matrix): a valid
    AnnData or a one-line RnagenError, never another exception."""
    rng = np.random.default_rng(0)

    def fill(f):
        f.attrs["version"] = np.bytes_("GCTX1.0")
        f.create_dataset("0/DATA/0/matrix", data=rng.normal(size=(6, 40)).astype(np.float32), chunks=(3, 20),
                         compression="gzip")
        f["0/META/COL/id"] = np.array([f"s{i}" for i in range(6)], dtype="S")
        f["0/META/COL/cell_id"] = np.array(["A549", "MCF7"] * 3, dtype="S")
        f["0/META/ROW/id"] = np.array([str(5720 + i) for i in range(40)], dtype="S")
        f["0/META/ROW/pr_is_lm"] = np.ones(40, dtype=np.int64)

    _damaged_reads(_hdf5_bytes(fill), "x.gctx", "cell_id", rng)


def test_damaged_loom_files():
    """A loom file cut short or with bytes overwritten: a valid AnnData or a one-line RnagenError, never another
    exception."""
    rng = np.random.default_rng(1)

    def fill(f):
        f.create_dataset("matrix", data=rng.poisson(20, size=(40, 6)).astype(np.float32), chunks=(20, 3),
                         compression="gzip")
        f["layers/spliced"] = np.ones((40, 6), dtype=np.float32)
        f["row_attrs/Gene"] = np.array([f"G{i}" for i in range(40)], dtype="S")
        f["col_attrs/CellID"] = np.array([f"s{i}" for i in range(6)], dtype="S")
        f["col_attrs/tissue"] = np.array(["lung", "liver"] * 3, dtype="S")

    _damaged_reads(_hdf5_bytes(fill), "x.loom", "tissue", rng)


def test_damaged_archs4_files():
    """An ARCHS4 gene-count file cut short or with bytes overwritten, read for the samples a label file names: a
    valid AnnData or a one-line RnagenError, never another exception."""
    rng = np.random.default_rng(2)

    def fill(f):
        f.create_dataset("data/expression", data=rng.poisson(30, size=(8, 60)).astype(np.uint32), chunks=(4, 20),
                         compression="gzip")
        f["meta/genes/symbol"] = np.array([f"G{i}" for i in range(8)], dtype="S")
        f["meta/samples/geo_accession"] = np.array([f"GSM{100 + i}" for i in range(60)], dtype="S")

    data = _hdf5_bytes(fill)
    with tempfile.TemporaryDirectory() as d:
        labels = os.path.join(d, "labels.tsv")
        with open(labels, "w") as fh:
            fh.write("sample\tgroup\n" + "".join(f"GSM{100 + i}\t{'ab'[i % 2]}\n" for i in range(0, 60, 5)))
        _damaged_reads(data, "human_gene_v2.latest.h5", None, rng, labels=labels)


def _damaged_reads(data: bytes, name: str, label_key: str | None, rng, **kw) -> None:
    """Read 120 damaged copies of an HDF5 file (a third cut short, the others with 1-19 bytes overwritten), and
    summarise them as ``rnagen data info`` does for the files too large to read (a line or None, no exception)."""
    from rnagen.data.io import archs4_summary, gctx_summary

    for t in range(120):
        b = bytearray(data)
        if t % 3 == 0:
            b = b[:int(rng.integers(100, len(b)))]
        else:
            for i in rng.integers(0, len(b), size=int(rng.integers(1, 20))):
                b[int(i)] = int(rng.integers(0, 256))
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, name)
            with open(p, "wb") as fh:
                fh.write(b)
            for summary in (archs4_summary, gctx_summary):
                assert summary(p) is None or isinstance(summary(p), str)
        _read_bytes(bytes(b), name, label_key=label_key, **kw)


def _mutated(text: str, rng, alphabet: str) -> str:
    """``text`` with 1-5 characters replaced by, deleted or inserted from ``alphabet`` at random places."""
    s = list(text)
    for _ in range(int(rng.integers(1, 6))):
        i, op = int(rng.integers(0, len(s))), int(rng.integers(0, 3))
        ch = alphabet[int(rng.integers(0, len(alphabet)))]
        if op == 0:
            s[i] = ch
        elif op == 1:
            del s[i]
        else:
            s.insert(i, ch)
    return "".join(s)


def test_damaged_soft_files():
    """A GEO family SOFT file or GDS with characters deleted, inserted or replaced anywhere (entity lines, table
    bounds, fields): a valid AnnData or a one-line RnagenError, never another exception."""
    rng = np.random.default_rng(1)
    family = ["^DATABASE = GeoMiame", "^SERIES = GSE1", "^PLATFORM = GPL96", "!platform_table_begin",
              "ID\tGene Symbol", "1007_s_at\tDDR1", "1053_at\tRFC2", "!platform_table_end"]
    for i in range(4):
        family += [f"^SAMPLE = GSM{i}", f"!Sample_geo_accession = GSM{i}", "!Sample_platform_id = GPL96",
                   f"!Sample_characteristics_ch1 = tissue: {'ab'[i % 2]}", "!sample_table_begin", "ID_REF\tVALUE",
                   f"1007_s_at\t{5 + i}.5", f"1053_at\t{i}.25", "!sample_table_end"]
    gds = ["^DATASET = GDS1", "^SUBSET = GDS1_1", "!subset_description = normal", "!subset_sample_id = GSM0,GSM2",
           "!subset_type = disease state", "^SUBSET = GDS1_2", "!subset_description = tumor",
           "!subset_sample_id = GSM1,GSM3", "!subset_type = disease state", "^DATASET = GDS1",
           "!dataset_table_begin", "ID_REF\tIDENTIFIER\tGSM0\tGSM1\tGSM2\tGSM3", "1007_s_at\tDDR1\t1\t2\t3\t4",
           "1053_at\tRFC2\t5\tnull\t7\t8", "!dataset_table_end"]
    for lines, key in ((family, "tissue"), (gds, "disease state")):
        text = "\n".join(lines) + "\n"
        for _ in range(150):
            _read_bytes(_mutated(text, rng, "\t\n=!^ 0A,").encode(), "x.soft", label_key=key)


def test_damaged_nanostring_rcc_files():
    """A folder of NanoString RCC files, one of them with characters deleted, inserted or replaced: a valid
    AnnData or a one-line RnagenError, never another exception."""
    rng = np.random.default_rng(2)

    def rcc(sample: str, n: int) -> str:
        return "\r\n".join(["<Header>", "FileVersion,1.7", "</Header>", "<Sample_Attributes>", f"ID,{sample}",
                            "</Sample_Attributes>", "<Code_Summary>", "CodeClass,Name,Accession,Count",
                            "Positive,POS_A(128),ERCC_00117.1,12811", "Negative,NEG_A(0),ERCC_00096.1,11",
                            f"Endogenous,TP53,NM_000546.5,{n}", f"Endogenous,EGFR,NM_005228.3,{n + 7}",
                            "Housekeeping,GAPDH,NM_002046.3,9000", "</Code_Summary>", "<Messages>", "</Messages>"])

    good = rcc("s1", 100)
    for _ in range(150):
        s = _mutated(rcc("s2", 50), rng, ",\r\n<>/A0 ")
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "s1.RCC"), "w") as fh:
                fh.write(good)
            with open(os.path.join(d, "s2.RCC"), "w") as fh:
                fh.write(s)
            try:
                a = read(d)
            except RnagenError as e:
                assert "\n" not in str(e), f"multi-line error: {e!r}"
                continue
            _assert_valid(a, None)
