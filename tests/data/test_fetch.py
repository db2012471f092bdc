"""Fetchers end to end against a local HTTP server (127.0.0.1), with an interrupted transfer and resume."""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re

import numpy as np
import pytest

from rnagen.cli.main import main
from rnagen.data import fetch as F
from rnagen.errors import ConfigError, DataError
from rnagen.pp import get_history, log_state

BIG = bytes(np.random.default_rng(3).integers(0, 256, size=300_000, dtype=np.uint8))


@contextlib.contextmanager
def _lock_held_elsewhere(target, kind: str = "file", seconds: int = 60):
    """Another process holding rnagen's write lock of ``target`` (:func:`rnagen._io.writer_lock`) while the block
    runs; yields that process (its ``pid`` is the one the messages name), killed at the end."""
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom rnagen._io import writer_lock\n"
        f"with writer_lock({str(target)!r}, kind={kind!r}):\n    print('held', flush=True)\n"
        f"    time.sleep({seconds})\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_download_resumes_after_interruption_byte_identical(http_server, tmp_path):
    http_server.files["blob.bin"] = BIG
    http_server.drop_first.add("blob.bin")
    dest = tmp_path / "blob.bin"
    sha = hashlib.sha256(BIG).hexdigest()
    F.download(f"{http_server.base_url}/blob.bin", dest, checksum=f"sha256:{sha}", retries=2, retry_wait=0,
               chunk_size=4096, progress=False)
    assert dest.read_bytes() == BIG
    assert not (tmp_path / "blob.bin.part").exists()
    # first request without Range, cut at half; the second asked only for what was missing
    (n1, r1), (n2, r2) = http_server.requests
    assert r1 is None and r2.startswith("bytes=") and 0 < int(r2[6:-1]) <= len(BIG) // 2


def test_interrupted_download_resumes_in_a_later_call(http_server, tmp_path):
    http_server.files["blob.bin"] = BIG
    http_server.drop_first.add("blob.bin")
    dest = tmp_path / "blob.bin"
    with pytest.raises(DataError, match="run the same command again to resume"):
        F.download(f"{http_server.base_url}/blob.bin", dest, retries=0, progress=False, chunk_size=4096)
    part = tmp_path / "blob.bin.part"
    have = part.read_bytes()
    assert not dest.exists() and 0 < len(have) <= len(BIG) // 2 and have == BIG[: len(have)]
    F.download(f"{http_server.base_url}/blob.bin", dest, retries=0, progress=False,
               checksum="md5:" + hashlib.md5(BIG).hexdigest())
    assert dest.read_bytes() == BIG and not part.exists()
    assert http_server.requests[-1] == ("blob.bin", f"bytes={len(have)}-")


def test_a_stalled_transfer_is_given_up_and_resumed(http_server, tmp_path):
    """A server sending a few bytes now and then never leaves the socket silent for its timeout: under the
    low-speed limit over its time the transfer counts as interrupted and the next request resumes it."""
    http_server.files["blob.bin"] = BIG
    http_server.trickle["blob.bin"] = (64, 0.02)   # 3.2 kB/s
    dest = tmp_path / "blob.bin"
    F.download(f"{http_server.base_url}/blob.bin", dest, retries=1, retry_wait=0, progress=False, timeout=5,
               low_speed=20_000, low_speed_time=0.3, checksum="sha256:" + hashlib.sha256(BIG).hexdigest())
    assert dest.read_bytes() == BIG
    (_, r1), (_, r2) = http_server.requests
    assert r1 is None and r2.startswith("bytes=") and 0 < int(r2[6:-1]) < len(BIG) // 10
    # without retries the message says how to go on, and what arrived is kept for it
    http_server.requests.clear()
    http_server.dropped.clear()
    dest2 = tmp_path / "again.bin"
    http_server.files["again.bin"] = BIG
    http_server.trickle["again.bin"] = (64, 0.02)
    with pytest.raises(DataError, match=r"interrupted after \d+ bytes \(the transfer stalled: \d+ bytes/s over "
                       r"0\.\d s\); run the same command again to resume"):
        F.download(f"{http_server.base_url}/again.bin", dest2, retries=0, progress=False, low_speed=20_000,
                   low_speed_time=0.3)
    assert 0 < (tmp_path / "again.bin.part").stat().st_size < len(BIG) // 10
    for bad in ({"low_speed": -1}, {"low_speed_time": 0}, {"timeout": 0}):
        with pytest.raises(ConfigError, match="low_speed=0 turns the low-speed limit off"):
            F.download(f"{http_server.base_url}/blob.bin", tmp_path / "x.bin", progress=False, **bad)
    assert not (tmp_path / "x.bin").exists()


def test_server_ignoring_range_restarts_cleanly(http_server, tmp_path):
    http_server.files["blob.bin"] = BIG
    http_server.honour_range = False
    (tmp_path / "blob.bin.part").write_bytes(b"stale bytes from another file")
    F.download(f"{http_server.base_url}/blob.bin", tmp_path / "blob.bin", progress=False, retries=0)
    assert (tmp_path / "blob.bin").read_bytes() == BIG


def test_bad_checksum_is_an_error_and_leaves_nothing(http_server, tmp_path):
    http_server.files["blob.bin"] = BIG
    dest = tmp_path / "blob.bin"
    with pytest.raises(DataError, match="sha256 checksum mismatch") as e:
        F.download(f"{http_server.base_url}/blob.bin", dest, checksum="sha256:" + "0" * 64, progress=False)
    assert not dest.exists() and not (tmp_path / "blob.bin.part").exists()
    # the way on names no file to delete: the download is gone already
    assert "the download was removed: fetch again" in str(e.value) and ".part" not in str(e.value)
    with pytest.raises(DataError, match="size 300000 bytes, expected 12"):
        F.download(f"{http_server.base_url}/blob.bin", dest, expected_size=12, progress=False)


def test_cache_is_reused_and_http_errors_are_clear(http_server, tmp_path):
    http_server.files["blob.bin"] = BIG
    F.download(f"{http_server.base_url}/blob.bin", tmp_path / "blob.bin", progress=False)
    n = len(http_server.requests)
    F.download(f"{http_server.base_url}/blob.bin", tmp_path / "blob.bin", progress=False)
    assert len(http_server.requests) == n  # served from the cache, no request
    with pytest.raises(DataError, match="HTTP 404"):
        F.download(f"{http_server.base_url}/missing.bin", tmp_path / "m.bin", progress=False)


def test_default_urls_are_the_public_ones():
    expr, samples = F.remote_files("tcga")
    assert expr.url() == "https://toil-xena-hub.s3.us-east-1.amazonaws.com/download/TcgaTargetGtex_rsem_gene_tpm.gz"
    assert samples.url("http://mirror/x/") == "http://mirror/x/TcgaTargetGTEX_phenotype.txt.gz"
    gexpr, gattr = F.remote_files("gtex")
    assert gexpr.url().endswith(
        "/adult-gtex/bulk-gex/v8/rna-seq/GTEx_Analysis_2017-06-05_v8_RNASeQCv1.1.9_gene_tpm.gct.gz")
    assert gattr.url().endswith("/GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt")


def test_fetch_tcga_end_to_end_with_interruption(http_server, tmp_path, xena_files):
    expr, pheno, truth = xena_files
    http_server.files.update({"TcgaTargetGtex_rsem_gene_tpm.gz": expr, "TcgaTargetGTEX_phenotype.txt.gz": pheno})
    http_server.drop_first.add("TcgaTargetGtex_rsem_gene_tpm.gz")
    out = F.fetch("tcga", cache_dir=tmp_path / "cache", base_url=http_server.base_url, retry_wait=0,
                  progress=False, chunksize=7,
                  checksums={"expression": "sha256:" + hashlib.sha256(expr).hexdigest()})
    assert (tmp_path / "cache" / "tcga" / "TcgaTargetGtex_rsem_gene_tpm.gz").read_bytes() == expr
    import anndata as ad

    full = ad.read_h5ad(out["full"])
    lm = ad.read_h5ad(out["landmarks"])
    # TCGA only, and the single-sample class (Eye) dropped by the default min_samples=2
    exp_samples = [s for s, site in zip(truth["tcga"], truth["sites"]) if site != "Eye"]
    assert sorted(full.obs_names) == sorted(exp_samples)
    assert full.obs["tissue"].value_counts().to_dict() == {"Breast": 5, "Lung": 4, "Kidney": 3}
    assert set(full.obs["cancer_type"]) == {"Breast Invasive Carcinoma", "Lung Adenocarcinoma",
                                            "Kidney Clear Cell Carcinoma"}
    # protein-coding / landmark genes only, unversioned Ensembl var_names, versions kept in var
    assert full.n_vars == len(truth["keep_ids"]) and lm.n_vars == 12
    assert set(full.var["ensembl_id_versioned"]) == set(truth["keep_ids"])
    assert all(v.startswith("ENSG") and "." not in v for v in full.var_names)
    assert lm.var["is_landmark"].all() and full.var["is_landmark"].sum() == 12
    # values unchanged (log2(TPM+0.001) as published), and the log state says so
    rows = [truth["ids"].index(v) for v in full.var["ensembl_id_versioned"]]
    cols = [truth["samples"].index(s) for s in full.obs_names]
    np.testing.assert_array_equal(full.X, truth["values"][np.ix_(rows, cols)].T)
    assert log_state(full)["logged"] and log_state(full)["transform"] == "log2(TPM+0.001)"
    assert [h["step"] for h in get_history(lm)] == ["fetch.tcga", "filter_classes", "select_genes"]


def test_fetch_gtex_cli_end_to_end(http_server, tmp_path, gtex_files, capsys):
    gct, attrs, truth = gtex_files
    http_server.files.update({"GTEx_Analysis_2017-06-05_v8_RNASeQCv1.1.9_gene_tpm.gct.gz": gct,
                              "GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt": attrs})
    http_server.drop_first.add("GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt")
    rc = main(["data", "fetch", "gtex", "--base-url", http_server.base_url, "--cache-dir", str(tmp_path / "c"),
               "--out", str(tmp_path / "out"), "--min-samples", "3", "--no-progress", "--retry-wait", "0"])
    assert rc == 0
    import anndata as ad

    full = ad.read_h5ad(tmp_path / "out" / "gtex_full.h5ad")
    lm = ad.read_h5ad(tmp_path / "out" / "gtex_landmarks.h5ad")
    # Brain has 2 < 3 samples: dropped; the sample only in the attribute table is ignored
    assert full.obs["tissue"].value_counts().to_dict() == {"Blood": 6, "Lung": 5}
    assert list(full.obs_names) == truth["samples"][:11]
    assert full.n_vars == 30 and lm.n_vars == 12
    rows = [truth["ids"].index(v) for v in full.var["ensembl_id_versioned"]]
    np.testing.assert_array_equal(full.X, truth["values"][rows, :11].T)
    assert log_state(full)["logged"] is False and log_state(full)["transform"] == "none (TPM)"
    hist = get_history(lm)
    assert [h["step"] for h in hist] == ["fetch.gtex", "filter_classes", "select_genes"]
    assert hist[1]["dropped_classes"].tolist() == ["Brain"] and hist[1]["n_dropped_samples"] == 2
    assert "gtex_landmarks.h5ad" in capsys.readouterr().out


def test_convert_rejects_wrong_files(tmp_path, xena_files, gtex_files):
    expr, pheno, _ = xena_files
    gct, attrs, _ = gtex_files
    (tmp_path / "e.gz").write_bytes(expr)
    (tmp_path / "g.gct.gz").write_bytes(gct)
    (tmp_path / "a.txt").write_bytes(attrs)
    (tmp_path / "p.gz").write_bytes(pheno)
    with pytest.raises(DataError, match="missing column.*_study"):
        F.convert_tcga(tmp_path / "e.gz", tmp_path / "a.txt", progress=False)  # attributes given as phenotype
    with pytest.raises(DataError, match="not a GTEx GCT"):
        F.convert_gtex(tmp_path / "e.gz", tmp_path / "a.txt", progress=False)
    with pytest.raises(DataError, match="no class has at least 100 samples"):
        F.convert_gtex(tmp_path / "g.gct.gz", tmp_path / "a.txt", progress=False)


def test_convert_gtex_same_values_with_and_without_column_selection(tmp_path, gtex_files):
    gct, attrs, truth = gtex_files
    (tmp_path / "g.gct.gz").write_bytes(gct)
    (tmp_path / "a.txt").write_bytes(attrs)
    # min_samples=1 keeps every column (parsed without usecols); 6 keeps Blood only (usecols path)
    everything, _ = F.convert_gtex(tmp_path / "g.gct.gz", tmp_path / "a.txt", min_samples=1, chunksize=5,
                                   progress=False)
    blood, blm = F.convert_gtex(tmp_path / "g.gct.gz", tmp_path / "a.txt", min_samples=6, chunksize=5,
                                progress=False)
    assert everything.n_obs == 13 and blood.n_obs == 6 and set(blood.obs["tissue"]) == {"Blood"}
    np.testing.assert_array_equal(everything[blood.obs_names].X, blood.X)
    assert list(blm.var_names) == [v for v in blood.var_names if blood.var.at[v, "is_landmark"]]


# ------------------------------------------------------------------------------------------ GEO

_SERIES = """!Series_title\t"A test series"
!Series_geo_accession\t"GSE1234"
!Series_platform_id\t"GPL96"
!Sample_title\t"liver 1"\t"liver 2"\t"brain 1"\t"brain 2"
!Sample_geo_accession\t"GSM1"\t"GSM2"\t"GSM3"\t"GSM4"
!Sample_characteristics_ch1\t"tissue: liver"\t"tissue: liver"\t"tissue: brain"\t"tissue: brain"
!series_matrix_table_begin
"ID_REF"\t"GSM1"\t"GSM2"\t"GSM3"\t"GSM4"
"1007_s_at"\t10.1\t10.3\t8.2\t8.1
"1053_at"\t5.5\t5.2\t7.1\tnull
"117_at"\t6.0\t6.1\t6.3\t6.2
"121_at"\t7.0\t7.1\t7.3\t7.2
!series_matrix_table_end
"""
_ANNOT = """^Annotation
!Annotation_platform = GPL96
!platform_table_begin
ID\tGene title\tGene symbol\tGene ID
1007_s_at\tdiscoidin domain receptor\tDDR1 /// MIR4640\t780
1053_at\treplication factor C\tRFC2\t5982
117_at\theat shock protein\tHSPA6\t3310
121_at\tpaired box 8\tPAX8\t7849
!platform_table_end
"""


def test_geo_urls():
    assert F.geo_url("GSE2034") == "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE2nnn/GSE2034/matrix/GSE2034_series_matrix.txt.gz"
    assert F.geo_url("GSE123", base_url="http://m/") == "http://m/series/GSEnnn/GSE123/matrix/GSE123_series_matrix.txt.gz"
    assert F.geo_url("GPL13534").endswith("/platforms/GPL13nnn/GPL13534/annot/GPL13534.annot.gz")
    assert F.geo_url("GSE2034", platform="GPL96").endswith("/GSE2nnn/GSE2034/matrix/GSE2034-GPL96_series_matrix.txt.gz")
    assert F.geo_counts_url("GSE48843") == "https://www.ncbi.nlm.nih.gov/geo/download/?type=rnaseq_counts&acc=GSE48843"
    assert F.geo_counts_url("GSE1", name="GSE1_raw_counts_GRCh38.p13_NCBI.tsv.gz", base_url="http://m/") == (
        "http://m/download/?type=rnaseq_counts&acc=GSE1&format=file&file=GSE1_raw_counts_GRCh38.p13_NCBI.tsv.gz")
    with pytest.raises(DataError, match="GEO platform 'GPL' is not GPL followed by digits"):
        F.geo_url("GSE2034", platform="GPL")
    for bad in ("GSE", "gse12", "GSE12a", "GDS507", "GSE012"):
        with pytest.raises(DataError, match="is not a series .* or a platform"):
            F.geo_url(bad)
    with pytest.raises(DataError, match="GPL96 is a platform; give a series accession"):
        F.fetch_geo("GPL96", cache_dir="/nonexistent", progress=False)


def test_fetch_geo_cli_end_to_end(http_server, tmp_path, capsys):
    import gzip
    import shlex

    import anndata as ad

    http_server.files["GSE1234_series_matrix.txt.gz"] = gzip.compress(_SERIES.encode(), mtime=0)
    http_server.files["GPL96.annot.gz"] = gzip.compress(_ANNOT.encode(), mtime=0)
    http_server.drop_first.add("GSE1234_series_matrix.txt.gz")  # an interrupted transfer, resumed
    base = http_server.base_url
    args = ["data", "fetch", "geo", "--accession", "GSE1234", "--base-url", base, "--cache-dir", str(tmp_path / "c"),
            "--no-progress", "--retry-wait", "0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "/files/series/GSE1nnn/GSE1234/matrix/GSE1234_series_matrix.txt.gz" in http_server.paths
    assert "/files/platforms/GPLnnn/GPL96/annot/GPL96.annot.gz" in http_server.paths
    assert "GSE1234: downloaded GSE1234_series_matrix.txt.gz (GPL96) and GPL96.annot.gz" in out
    assert "sample columns (for --label-key): title, tissue" in out
    nxt = next(line for line in out.splitlines() if line.startswith("next: "))[len("next: "):]
    cmd = shlex.split(nxt.replace("COLUMN", "tissue").replace("DATA.h5ad", str(tmp_path / "geo.h5ad")))
    assert cmd[:3] == ["rnagen", "data", "prepare"]
    assert main(cmd[1:] + ["--genes", "all", "--max-missing", "0.5"]) == 0
    a = ad.read_h5ad(tmp_path / "geo.h5ad")
    assert list(a.var_names) == ["RFC2", "HSPA6", "PAX8"] and a.obs["tissue"].astype(str).tolist()[0] == "liver"
    assert not np.isnan(a.X).any() and a.var["feature_id"].tolist() == ["1053_at", "117_at", "121_at"]
    n = len(http_server.requests)
    assert main(args) == 0 and len(http_server.requests) == n  # both from the cache


def test_fetch_geo_missing_files_and_options(http_server, tmp_path, capsys):
    import gzip

    base = http_server.base_url
    args = ["data", "fetch", "geo", "--base-url", base, "--cache-dir", str(tmp_path), "--no-progress"]
    assert main([*args, "--accession", "GSE1234"]) == 2  # no matrix on the server
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GEO has no GSE1234_series_matrix.txt.gz" in err and "--platform GPLxxx" in err
    # one platform's matrix of a series on two
    two = _SERIES.replace('!Series_platform_id\t"GPL96"', '!Series_platform_id\t"GPL96"\n!Series_platform_id\t"GPL97"')
    http_server.files["GSE1234-GPL97_series_matrix.txt.gz"] = gzip.compress(two.encode(), mtime=0)
    http_server.files["GPL97.annot.gz"] = gzip.compress(_ANNOT.encode(), mtime=0)
    assert main([*args, "--accession", "GSE1234", "--platform", "gpl97"]) == 0
    assert "downloaded GSE1234-GPL97_series_matrix.txt.gz (GPL97) and GPL97.annot.gz" in capsys.readouterr().out
    assert main([*args, "--accession", "GSE1234", "--platform", "GPL98"]) == 2
    assert "is GSE1234 on platform GPL98?" in capsys.readouterr().err
    http_server.files["GSE1234_series_matrix.txt.gz"] = gzip.compress(_SERIES.encode(), mtime=0)
    assert main([*args, "--accession", "gse1234"]) == 0  # no annotation for the platform: the probes stay
    out = capsys.readouterr().out
    assert "no probe -> gene annotation on GEO for platform GPL96" in out and "--genes all" in out
    for extra, match in ((["--accession", "GSE1234", "--out", str(tmp_path / "o")], "--out do not apply to geo"),
                         (["--accession", "GSE1234", "--chunksize", "10"], "--chunksize do not apply to geo"),
                         ([], "needs --accession GSExxx"),
                         (["--accession", "GSE1234", "--checksum", "GPL1.annot.gz=md5:" + "0" * 32],
                          "checksum given for GPL1.annot.gz, but GSE1234 is on platform GPL96"),
                         (["--accession", "GSE1234", "--checksum", "expression=md5:" + "0" * 32],
                          "checksum given for unknown file")):
        assert main([*args, *extra]) == 2
        assert match in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    http_server.files["GSE999_series_matrix.txt.gz"] = b"<html>not found</html>"  # an error page served as 200
    assert main([*args, "--accession", "GSE999"]) == 2
    assert "GSE999_series_matrix.txt.gz sent a web page (HTML), not the file" in capsys.readouterr().err
    assert not (tmp_path / "geo" / "GSE999_series_matrix.txt.gz").exists()
    assert main(["data", "fetch", "tcga", "--accession", "GSE1", "--cache-dir", str(tmp_path)]) == 2
    assert "--accession applies to geo" in capsys.readouterr().err
    assert main(["data", "fetch", "gtex", "--platform", "GPL1", "--cache-dir", str(tmp_path)]) == 2
    assert "--platform applies to geo" in capsys.readouterr().err


# an RNA-seq series: its series matrix has an empty table; NCBI's counts page links the gene counts
_RNASEQ_SERIES = """!Series_title\t"An RNA-seq series"
!Series_geo_accession\t"GSE5678"
!Series_platform_id\t"GPL24676"
!Sample_title\t"tumour A"\t"tumour B"\t"normal A"\t"normal B"
!Sample_geo_accession\t"GSM11"\t"GSM12"\t"GSM13"\t"GSM14"
!Sample_characteristics_ch1\t"tissue: tumour"\t"tissue: tumour"\t"tissue: normal"\t"tissue: normal"
!Sample_library_strategy\t"RNA-Seq"\t"RNA-Seq"\t"RNA-Seq"\t"RNA-Seq"
!series_matrix_table_begin
"ID_REF"\t"GSM11"\t"GSM12"\t"GSM13"\t"GSM14"
!series_matrix_table_end
"""
_RAW = "GSE5678_raw_counts_GRCh38.p13_NCBI.tsv.gz"
_PAGE = ("<html><body><table><tr><td><a href=\"/geo/download/?type=rnaseq_counts&amp;acc=GSE5678&amp;format=file&amp;"
         f"file={_RAW}\">{_RAW}</a></td></tr><tr><td><a href=\"/geo/download/?type=rnaseq_counts&amp;acc=GSE5678&amp;"
         "format=file&amp;file=GSE5678_norm_counts_TPM_GRCh38.p13_NCBI.tsv.gz\">TPM</a></td></tr><tr><td><a href=\""
         "/geo/download/?format=file&amp;type=rnaseq_counts&amp;file=Human.GRCh38.p13.annot.tsv.gz\">annotation</a>"
         "</td></tr></table></body></html>")


def _ncbi_counts() -> tuple[bytes, np.ndarray, list[str]]:
    """NCBI's layout: GeneID (Entrez) x GSM, integer counts; two samples sequenced 4x deeper."""
    from rnagen.data import genes as g

    t = g.gene_table()
    entrez = t[t.is_landmark].entrez_id.astype(str).tolist()[:600] + ["100287102", "653635"]
    rng = np.random.default_rng(0)
    mu = rng.gamma(1.0, 200.0, size=len(entrez))
    depth = np.array([1.0, 4.0, 1.0, 4.0])
    counts = rng.poisson(mu[:, None] * depth[None, :])
    lines = ["GeneID\tGSM11\tGSM12\tGSM13\tGSM14"] + [e + "\t" + "\t".join(map(str, r)) for e, r in zip(entrez, counts)]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0), counts.T, entrez


def test_fetch_geo_rnaseq_counts_end_to_end(http_server, tmp_path, capsys):
    import shlex

    import anndata as ad

    counts_gz, counts, entrez = _ncbi_counts()
    http_server.files["GSE5678_series_matrix.txt.gz"] = gzip.compress(_RNASEQ_SERIES.encode(), mtime=0)
    http_server.files["?type=rnaseq_counts&acc=GSE5678"] = _PAGE.encode()
    http_server.files[f"?type=rnaseq_counts&acc=GSE5678&format=file&file={_RAW}"] = counts_gz
    http_server.drop_first.add(f"?type=rnaseq_counts&acc=GSE5678&format=file&file={_RAW}")  # resumed
    base = http_server.base_url
    args = ["data", "fetch", "geo", "--accession", "GSE5678", "--base-url", base, "--cache-dir", str(tmp_path / "c"),
            "--no-progress", "--retry-wait", "0"]
    # without --counts: the empty series matrix is downloaded and the user told where the values are
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "holds no expression values" in out and "--counts raw" in out and "next:" not in out
    assert main([*args, "--counts", "raw"]) == 0
    out = capsys.readouterr().out
    assert "/files/download/?type=rnaseq_counts&acc=GSE5678" in http_server.paths
    assert f"downloaded GSE5678_series_matrix.txt.gz (GPL24676) and {_RAW}" in out
    assert "sample columns (for --label-key): title, tissue, library_strategy" in out
    assert not (tmp_path / "c" / "geo" / ".GSE5678_rnaseq_counts.html").exists()  # the listing is not kept
    nxt = next(line for line in out.splitlines() if line.startswith("next: "))[len("next: "):]
    cmd = shlex.split(nxt.replace("COLUMN", "tissue").replace("DATA.h5ad", str(tmp_path / "rnaseq.h5ad")))
    assert cmd[:4] == ["rnagen", "data", "prepare", str(tmp_path / "c" / "geo" / _RAW)] and "--normalize" in cmd
    assert main(cmd[1:]) == 0
    out = capsys.readouterr().out
    assert "depth normalised (cpm;" in out and "2 classes of 'tissue'" in out
    a = ad.read_h5ad(tmp_path / "rnaseq.h5ad")
    assert a.obs["tissue"].astype(str).tolist() == ["tumour", "tumour", "normal", "normal"]
    assert a.n_vars == 600 and set(a.var["entrez_id"].astype(str)) == set(entrez[:600])  # the landmarks
    # log2 of counts per million of the whole library (all 602 genes), the 4x deeper samples brought level
    lib = counts.sum(axis=1)
    j = entrez.index(str(a.var["entrez_id"].iloc[0]))
    np.testing.assert_allclose(a.X[:, 0], np.log2(counts[:, j] / lib * 1e6 + 1), rtol=1e-5)
    np.testing.assert_allclose(a.obs["size_factor"], lib / 1e6, rtol=1e-9)
    n = len(http_server.requests)
    assert main([*args, "--counts", "raw"]) == 0 and len(http_server.requests) == n + 0  # all from the cache


def test_fetch_geo_counts_refusals(http_server, tmp_path, capsys):
    base = http_server.base_url
    args = ["data", "fetch", "geo", "--accession", "GSE5678", "--base-url", base, "--cache-dir", str(tmp_path),
            "--no-progress", "--retry-wait", "0"]
    http_server.files["GSE5678_series_matrix.txt.gz"] = gzip.compress(_RNASEQ_SERIES.encode(), mtime=0)
    # a series NCBI has not counted: its page links no file
    http_server.files["?type=rnaseq_counts&acc=GSE5678"] = b"<html><body>No files</body></html>"
    assert main([*args, "--counts", "raw"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NCBI has computed no RNA-seq counts for GSE5678" in err and "--suppl" in err
    # the page links raw and TPM only
    http_server.files["?type=rnaseq_counts&acc=GSE5678"] = _PAGE.encode()
    assert main([*args, "--counts", "fpkm"]) == 2
    assert "links no fpkm counts, only raw, tpm; pass --counts raw" in capsys.readouterr().err
    # a web page (a bot check) served where the gzip should be: refused and not kept
    http_server.files[f"?type=rnaseq_counts&acc=GSE5678&format=file&file={_RAW}"] = b"<html>captcha</html>"
    assert main([*args, "--counts", "raw"]) == 2
    err = capsys.readouterr().err
    assert f"file={_RAW} sent a web page (HTML)" in err and "NCBI asks for a browser at times" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "geo" / _RAW).exists()
    http_server.files[f"?type=rnaseq_counts&acc=GSE5678&format=file&file={_RAW}"] = _ncbi_counts()[0]
    for extra, match in ((["--counts", "raw", "--platform", "GPL1"], "give one"),
                         (["--counts", "raw", "--checksum", f"{_RAW}=md5:" + "0" * 32], "checksum mismatch|md5")):
        assert main([*args, *extra]) == 2
        assert re.search(match, capsys.readouterr().err)
    assert main(["data", "fetch", "tcga", "--counts", "raw", "--cache-dir", str(tmp_path)]) == 2
    assert "--counts applies to geo" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main([*args, "--counts", "counts"])
    assert e.value.code == 2 and "invalid choice: 'counts'" in capsys.readouterr().err


def test_fetch_geo_supplementary_files(http_server, tmp_path, capsys):
    """A series NCBI did not count: --suppl lists the submitter's files, --suppl NAME downloads one; GEO's
    RAW.tar of gzipped per-sample HTSeq tables (GSMxxx_<title>.counts.txt.gz) prepares as it is (and unpacked)
    with the series matrix as labels (matched by the accession that starts each file name)."""
    import io
    import shlex
    import tarfile

    import anndata as ad

    rng = np.random.default_rng(3)
    genes = ["ENSG00000092010", "ENSG00000122873", "ENSG00000124664", "ENSG00000000003"]
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tf:
        for gsm, title in zip(["GSM11", "GSM12", "GSM13", "GSM14"], ["tumour_A", "tumour_B", "normal_A", "normal_B"]):
            rows = [f"{g}\t{c}" for g, c in zip(genes, rng.integers(10, 900, size=4))] + ["__no_feature\t5"]
            data = gzip.compress(("\n".join(rows) + "\n").encode(), mtime=0)
            info = tarfile.TarInfo(f"{gsm}_{title}.counts.txt.gz")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    http_server.files["GSE5678_series_matrix.txt.gz"] = gzip.compress(_RNASEQ_SERIES.encode(), mtime=0)
    http_server.files["GSE5678_RAW.tar"] = tar_bytes.getvalue()
    http_server.files[""] = (  # the suppl/ folder's listing (the handler serves the last path component)
        b'<html><body><pre><a href="?C=N;O=D">Name</a> <a href="/geo/series/GSE5nnn/GSE5678/">Parent Directory</a>\n'
        b'<a href="GSE5678_RAW.tar">GSE5678_RAW.tar</a>   2020-01-01 10:00   40K\n'
        b'<a href="filelist.txt">filelist.txt</a>   2020-01-01 10:00   1.1K\n</pre></body></html>')
    base = http_server.base_url
    args = ["data", "fetch", "geo", "--accession", "GSE5678", "--base-url", base, "--cache-dir", str(tmp_path / "c"),
            "--no-progress", "--retry-wait", "0"]
    assert main([*args, "--suppl"]) == 0
    out = capsys.readouterr().out
    assert "/files/series/GSE5nnn/GSE5678/suppl/" in http_server.paths
    assert "supplementary files of GSE5678: GSE5678_RAW.tar (40K), filelist.txt (1.1K); download one with --suppl" \
        in out
    assert not list((tmp_path / "c" / "geo").glob(".*"))  # the listing is not kept
    assert main([*args, "--suppl", "GSE5678_RAW.tar"]) == 0
    out = capsys.readouterr().out
    assert "/files/series/GSE5nnn/GSE5678/suppl/GSE5678_RAW.tar" in http_server.paths
    assert "an archive: prepare reads the per-sample files in it, or its one matrix file, as they are; for one of " \
        "several matrix files in it, unpack it first (mkdir GSE5678_suppl && tar -xf" in out
    nxt = next(line for line in out.splitlines() if line.startswith("next: "))[len("next: "):]
    cmd = shlex.split(nxt.replace("COLUMN", "tissue").replace("DATA.h5ad", str(tmp_path / "s.h5ad")))
    assert cmd[3] == str(tmp_path / "c" / "geo" / "GSE5678" / "GSE5678_RAW.tar")   # per series: filelist.txt
    assert main(cmd[1:] + ["--genes", "all", "--normalize", "cpm"]) == 0
    a = ad.read_h5ad(tmp_path / "s.h5ad")
    assert list(a.obs_names) == ["GSM11_tumour_A", "GSM12_tumour_B", "GSM13_normal_A", "GSM14_normal_B"]
    assert a.obs["tissue"].astype(str).tolist() == ["tumour", "tumour", "normal", "normal"] and a.n_vars == 4
    # unpacked, the folder reads the same
    with tarfile.open(tmp_path / "c" / "geo" / "GSE5678" / "GSE5678_RAW.tar") as tf:
        tf.extractall(tmp_path / "GSE5678_suppl", filter="data")
    cmd[3] = str(tmp_path / "GSE5678_suppl")
    assert main(cmd[1:] + ["--genes", "all", "--normalize", "cpm", "--out", str(tmp_path / "f.h5ad")]) == 0
    f = ad.read_h5ad(tmp_path / "f.h5ad")
    assert list(f.obs_names) == list(a.obs_names) and np.array_equal(f.X, a.X)
    capsys.readouterr()
    for extra, match in ((["--suppl", "missing.txt"], "GSE5678's suppl/ folder has no missing.txt; list its files"),
                         (["--suppl", "../x"], "is not a file name"),
                         (["--suppl", "--counts", "raw"], "give one")):
        assert main([*args, *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and match in err, err
    assert main(["data", "fetch", "gtex", "--suppl", "--cache-dir", str(tmp_path)]) == 2
    assert "--suppl applies to geo" in capsys.readouterr().err


def _recount3_files(runs, counts, length):
    """A recount3 project's three files as the project serves them (gzip; the sums opened by ## lines)."""
    import gzip

    genes = ["ENSG00000141510.16", "ENSG00000146648.15", "ENSG00000136997.14"]
    cov = counts * np.asarray(length, dtype=np.int64)
    sums = ("##annotation=G026\n##date.generated=2020-07-28\ngene_id\t" + "\t".join(runs) + "\n"
            + "".join(g + "\t" + "\t".join(map(str, row)) + "\n" for g, row in zip(genes, cov)))
    qc = "rail_id\texternal_id\tstudy\tstar.average_mapped_length\n" + "".join(
        f"{i}\t{r}\tSRP012345\t{L}\n" for i, (r, L) in enumerate(zip(runs, length)))
    md = "rail_id\texternal_id\tstudy\tsample_title\tsample_attributes\n" + "".join(
        f"{i}\t{r}\tSRP012345\tt{i}\tcell type;;{'HeLa' if i < 2 else 'K562'}|treatment;;{'ab'[i % 2]}\n"
        for i, r in enumerate(runs))
    return {"sra.gene_sums.SRP012345.G026.gz": gzip.compress(sums.encode(), mtime=0),
            "sra.recount_qc.SRP012345.MD.gz": gzip.compress(qc.encode(), mtime=0),
            "sra.sra.SRP012345.MD.gz": gzip.compress(md.encode(), mtime=0)}


def test_fetch_recount3_cli_end_to_end(http_server, tmp_path, capsys):
    """recount3: the project's gene sums, QC table and sample metadata downloaded from its tree, and the command
    printed reads the sums as read counts labelled by a sample attribute."""
    import shlex

    import anndata as ad

    runs = ["SRR10", "SRR11", "SRR12", "SRR13"]
    counts = np.array([[5, 9, 13, 2], [40, 0, 7, 70], [1, 1, 3, 6]], dtype=np.int64)
    http_server.files.update(_recount3_files(runs, counts, [76, 100, 150, 202]))
    args = ["data", "fetch", "recount3", "--project", "srp012345", "--base-url", http_server.base_url,
            "--cache-dir", str(tmp_path / "c"), "--no-progress", "--retry-wait", "0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for f in ("gene_sums/45/SRP012345/sra.gene_sums.SRP012345.G026.gz", "metadata/45/SRP012345/sra.recount_qc."
              "SRP012345.MD.gz", "metadata/45/SRP012345/sra.sra.SRP012345.MD.gz"):
        assert f"/files/human/data_sources/sra/{f}" in http_server.paths
    assert "SRP012345: downloaded sra.gene_sums.SRP012345.G026.gz, sra.recount_qc.SRP012345.MD.gz and " in out
    assert "sample columns that group the runs (for --label-key): cell type, treatment" in out
    nxt = next(line for line in out.splitlines() if line.startswith("next: "))[len("next: "):]
    cmd = shlex.split(nxt.replace("COLUMN", "'cell type'").replace("DATA.h5ad", str(tmp_path / "r.h5ad")))
    assert main(cmd[1:] + ["--genes", "all"]) == 0
    a = ad.read_h5ad(tmp_path / "r.h5ad")
    assert a.obs["cell type"].astype(str).tolist() == ["HeLa", "HeLa", "K562", "K562"]
    cpm = counts.T / counts.sum(0)[:, None] * 1e6
    np.testing.assert_allclose(a.X, np.log2(cpm + 1), rtol=1e-5)
    assert F.recount3_urls("BRCA", home="tcga")["sums"] == (
        "http://duffel.rail.bio/recount3/human/data_sources/tcga/gene_sums/CA/BRCA/tcga.gene_sums.BRCA.G026.gz")


def test_fetch_recount3_refusals(http_server, tmp_path, capsys):
    base = ["data", "fetch", "recount3", "--base-url", http_server.base_url, "--cache-dir", str(tmp_path),
            "--no-progress"]
    for extra, msg in (([], "needs --project ID"),
                       (["--project", "SRP999999"], "recount3 has no sra.gene_sums.SRP999999.G026.gz at "),
                       (["--project", "BLADDER"], "'BLADDER' is not a recount3 sra project; give an SRA study"),
                       (["--project", "SRP1", "--home", "gtex", "--organism", "mouse"], "no mouse gtex data"),
                       (["--project", "SRP1", "--out", "x"], "--out does not apply to recount3")):
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
    assert main(["data", "fetch", "geo", "--accession", "GSE1", "--project", "SRP1", "--cache-dir",
                 str(tmp_path)]) == 2
    assert "--project applies to recount3; remove it for geo" in capsys.readouterr().err


# --- what a real server or a second process can do to a download ------------------------------------------------
def test_a_second_process_downloading_the_same_file_is_refused_past_the_wait(http_server, tmp_path, capsys,
                                                                             monkeypatch):
    """Two fetches into one cache appended to one .part file: a 3.9 MB 'complete' download of a 3 MB file. The
    file's lock keeps the second waiting while the first holds it, and refuses it, naming the first, past the
    longest wait; nothing is asked of the server meanwhile."""
    import time

    dest = tmp_path / "blob.bin"
    with _lock_held_elsewhere(dest, seconds=30) as holder:
        http_server.files["blob.bin"] = BIG
        from rnagen.errors import OutputError

        with pytest.raises(OutputError, match=rf"^{re.escape(str(dest))} is still being downloaded by another rnagen "
                                              rf"process \(pid {holder.pid}\) after 0.3 s of waiting; run the same "
                                              "command again once it has finished"):
            F.download(f"{http_server.base_url}/blob.bin", dest, retries=0, progress=False, lock_wait=0.3)
        assert capsys.readouterr().err == (f"rnagen: blob.bin is being downloaded by another rnagen process (pid "
                                           f"{holder.pid}); waiting for it to finish (up to 0.3 s)\n")
        assert not dest.exists() and not (tmp_path / "blob.bin.part").exists() and not http_server.requests
        # the command: the waiting line, then the one-line error, status 2
        args = ["data", "fetch", "geo", "--accession", "GSE1234", "--base-url", http_server.base_url, "--cache-dir",
                str(tmp_path / "c"), "--no-progress"]
        series = tmp_path / "c" / "geo" / "GSE1234_series_matrix.txt.gz"
        series.parent.mkdir(parents=True)
        with _lock_held_elsewhere(series, seconds=30) as sub:
            monkeypatch.setattr(F, "MAX_LOCK_WAIT", 0.2)
            assert main(args) == 2
        err = capsys.readouterr().err.splitlines()
        assert err[0].startswith(f"rnagen: {series.name} is being downloaded by another rnagen process (pid {sub.pid})")
        assert len(err) == 2 and err[1].startswith(f"rnagen: error: {series} is still being downloaded by another ")
        assert not http_server.requests
    time.sleep(0.05)
    F.download(f"{http_server.base_url}/blob.bin", dest, retries=0, progress=False)
    assert dest.read_bytes() == BIG


def test_a_part_of_another_version_is_not_spliced_in(http_server, tmp_path):
    """A .part left from an earlier version of the file (or without a record of its version) was resumed with
    Range: its bytes before the new version's rest (Blood read as 'Skinn'). The version goes with If-Range; a
    file changed since comes whole, a .part of unknown version starts again."""
    import json

    old, new = BIG[:1000] + b"old" * 100, BIG[:1000] + b"new" * 100
    url = f"{http_server.base_url}/blob.bin"
    http_server.files["blob.bin"] = new
    dest = tmp_path / "blob.bin"
    part = tmp_path / "blob.bin.part"
    part.write_bytes(old[:1100])
    (tmp_path / "blob.bin.part.json").write_text(json.dumps({"url": url, "validator": '"an-older-version"'}))
    F.download(url, dest, retries=0, progress=False)
    assert dest.read_bytes() == new and not (tmp_path / "blob.bin.part.json").exists()
    assert http_server.requests[-1][1] == "bytes=1100-"   # asked for the rest, of that version only: got all
    dest.unlink()
    part.write_bytes(old[:1100])   # no record of its version: not resumed at all
    F.download(url, dest, retries=0, progress=False)
    assert dest.read_bytes() == new and http_server.requests[-1][1] is None


@pytest.mark.parametrize("name, body", [("table.txt", b"gene\ts1\nTP53\t1\nEGFR\t2\n" * 401),   # cut mid-line
                                        ("table.txt.gz", gzip.compress(b"gene\ts1\nTP53\t1\n" * 4000, mtime=0))])
def test_a_connection_closed_early_without_a_size_is_not_a_whole_file(http_server, tmp_path, name, body):
    """Without Content-Length the end of a transfer is the connection closing, early or not: a cut table was
    cached as complete (6 of 11 GTEx samples), a cut .gz made every later read fail. A gzip stream must reach its
    end, a text file end on a line end; otherwise the transfer is tried again. (A text file cut exactly at a line
    end cannot be told from a whole one without a size.)"""
    http_server.files[name] = body
    http_server.no_length.add(name)
    http_server.drop_first.add(name)
    dest = tmp_path / name
    F.download(f"{http_server.base_url}/{name}", dest, retries=2, retry_wait=0, progress=False)
    assert dest.read_bytes() == body and len(http_server.requests) == 2
    dest.unlink()
    http_server.dropped.clear()
    with pytest.raises(DataError, match="the server gave no size and sent a (gzip stream cut short|text file that "
                                        "stops in the middle of a line)"):
        F.download(f"{http_server.base_url}/{name}", dest, retries=0, progress=False)
    assert not dest.exists()


def test_pages_empty_files_and_bad_checksums_are_not_cached(http_server, tmp_path, capsys):
    """An empty 200 or a web page was saved under the data's name and reused on every later run; a checksum that
    is no hex digest could only mismatch, and its advice deleted a good download."""
    url = f"{http_server.base_url}/data.tsv"
    http_server.files["data.tsv"] = b""
    with pytest.raises(DataError, match=r"data.tsv sent empty \(removed, not cached\)"):
        F.download(url, tmp_path / "data.tsv", retries=0, progress=False)
    http_server.files["data.tsv"] = b"<!DOCTYPE html>\n<html><body>Sign in</body></html>\n"
    with pytest.raises(DataError, match=r"sent a web page \(HTML\), not the file"):
        F.download(url, tmp_path / "data.tsv", retries=0, progress=False)
    assert not list(tmp_path.iterdir())
    n = len(http_server.requests)
    for bad in ("md5:zz", "sha256:0000", "sha256:" + "g" * 64):
        with pytest.raises(DataError, match="bad checksum .* hex digits"):
            F.download(url, tmp_path / "data.tsv", checksum=bad, retries=0, progress=False)
    assert len(http_server.requests) == n   # refused before asking the server
    # a cached web page (an older download) is named, with the way on
    (tmp_path / "old.tsv").write_bytes(b"<html><body>error</body></html>")
    with pytest.raises(DataError, match=rf"cached {re.escape(str(tmp_path / 'old.tsv'))} is a web page .* delete it"):
        F.download(f"{http_server.base_url}/old.tsv", tmp_path / "old.tsv", retries=0, progress=False)
    for base in ("notaurl", "ftp://ftp.ncbi.nlm.nih.gov/geo"):
        assert main(["data", "fetch", "gtex", "--base-url", base, "--cache-dir", str(tmp_path / "c")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is not an http(s) URL" in err


def test_a_gzip_file_sent_with_content_encoding_is_kept_as_stored(http_server, tmp_path):
    """Storage that serves a .gz object with Content-Encoding: gzip (Google Cloud Storage's transcoding) had its
    body decoded on the way, more bytes than announced: never fetched. The stored bytes are kept."""
    body = gzip.compress(b"gene\ts1\nTP53\t1\n" * 500, mtime=0)
    http_server.files["x.tsv.gz"] = body
    http_server.encoded.add("x.tsv.gz")
    dest = F.download(f"{http_server.base_url}/x.tsv.gz", tmp_path / "x.tsv.gz", retries=0, progress=False)
    assert dest.read_bytes() == body


def test_a_suppl_name_is_quoted_in_its_url(http_server, tmp_path):
    """'#' or '?' in a submitter's file name ended the URL's path there: another file saved under its name."""
    assert F.geo_suppl_url("GSE1", name="a#b?.txt", base_url="http://h").endswith("/suppl/a%23b%3F.txt")


def test_a_host_that_does_not_resolve_is_named_without_retries(tmp_path, capsys):
    """A name that does not resolve (no network) was 'interrupted after 0 bytes; run the same command again'."""
    assert main(["data", "fetch", "gtex", "--base-url", "https://no-such-host.invalid/x", "--cache-dir",
                 str(tmp_path), "--retries", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach no-such-host.invalid: its name does not resolve" in err


def test_a_busy_server_is_asked_again(http_server, tmp_path):
    """503, 429 and other transient statuses (S3, GCS and NCBI send them under load) failed at once, even with
    --retries: they are tried again as an interruption is."""
    http_server.files["busy.txt"] = b"gene\ts1\nTP53\t1\n"
    http_server.fail_first["busy.txt"] = [503, 429]
    dest = F.download(f"{http_server.base_url}/busy.txt", tmp_path / "busy.txt", retries=3, retry_wait=0,
                      progress=False)
    assert dest.read_bytes() == http_server.files["busy.txt"]
    http_server.fail_first["busy2.txt"] = [503, 503]
    http_server.files["busy2.txt"] = b"x\n"
    with pytest.raises(DataError, match=r"interrupted after 0 bytes \(HTTP 503 from the server\); run the same "
                                        "command again"):
        F.download(f"{http_server.base_url}/busy2.txt", tmp_path / "busy2.txt", retries=1, retry_wait=0,
                   progress=False)
    assert not (tmp_path / "busy2.txt").exists()


@pytest.mark.parametrize("body, what", [
    (b"\xef\xbb\xbf<!DOCTYPE html><html><body>Sign in</body></html>\n", "a web page"),
    (b"<!-- served by proxy -->\n<!DOCTYPE html><html><body>Access denied</body></html>\n", "a web page"),
    (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code></Error>', "an error document"),
], ids=["bom", "comment", "s3-error"])
def test_pages_behind_a_mark_or_a_comment_and_storage_errors_are_not_cached(http_server, tmp_path, body, what):
    http_server.files["attrs.txt"] = body
    with pytest.raises(DataError, match=f"sent {what}"):
        F.download(f"{http_server.base_url}/attrs.txt", tmp_path / "attrs.txt", retries=0, progress=False)
    assert not list(tmp_path.iterdir())


def test_a_malformed_host_is_one_line(tmp_path, capsys):
    for base in ("http://[::1", "http://[zz]/x", "http://host:port/x"):
        assert main(["data", "fetch", "geo", "--accession", "GSE1234", "--base-url", base, "--cache-dir",
                     str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is not an http(s) URL" in err and "Traceback" not in err, err


def test_a_finished_download_is_reused_without_taking_a_lock(http_server, tmp_path, monkeypatch):
    """A complete cache on a read-only disk: the file is only read, so no lock file is written beside it."""
    import rnagen._io as rio

    http_server.files["ok.txt"] = b"gene\ts1\nTP53\t1\n"
    F.download(f"{http_server.base_url}/ok.txt", tmp_path / "ok.txt", retries=0, progress=False)

    def no_lock(*a, **k):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(rio, "writer_lock", no_lock)
    n = len(http_server.requests)
    assert F.download(f"{http_server.base_url}/ok.txt", tmp_path / "ok.txt", retries=0, progress=False) == \
        tmp_path / "ok.txt"
    assert len(http_server.requests) == n


def test_a_cached_matrix_cut_short_is_named_to_delete(tmp_path, gtex_files):
    gct, attrs, _ = gtex_files
    (tmp_path / "g.gct.gz").write_bytes(gct[: len(gct) // 2])
    (tmp_path / "a.txt").write_bytes(attrs)
    with pytest.raises(DataError, match=rf"g.gct.gz is cut short or damaged \(EOFError.*delete "
                                        rf"{re.escape(str(tmp_path / 'g.gct.gz'))} and fetch again"):
        F.convert_gtex(tmp_path / "g.gct.gz", tmp_path / "a.txt", min_samples=1, progress=False)


def test_the_two_views_replace_the_old_pair_together(http_server, tmp_path, gtex_files, monkeypatch):
    """A write failing on the second view (a full disk) left a full view of one run beside the landmark view of
    another: both are written before either replaces the old pair."""
    import anndata as ad

    gct, attrs, _ = gtex_files
    http_server.files.update({"GTEx_Analysis_2017-06-05_v8_RNASeQCv1.1.9_gene_tpm.gct.gz": gct,
                              "GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt": attrs})
    kw = dict(cache_dir=tmp_path / "c", base_url=http_server.base_url, retry_wait=0, progress=False)
    got = F.fetch("gtex", min_samples=1, **kw)
    before = {k: got[k].read_bytes() for k in ("full", "landmarks")}
    calls = []
    real = F.write_h5ad

    def failing(adata, path, **k):
        calls.append(path)
        if len(calls) == 2:
            raise DataError(f"cannot write {path}: no space left on the device")
        return real(adata, path, **k)

    monkeypatch.setattr(F, "write_h5ad", failing)
    with pytest.raises(DataError, match="no space left"):
        F.fetch("gtex", min_samples=5, **kw)
    assert {k: got[k].read_bytes() for k in ("full", "landmarks")} == before
    assert not [p for p in got["full"].parent.iterdir() if p.name.startswith(".")]
    assert ad.read_h5ad(got["full"]).n_obs == ad.read_h5ad(got["landmarks"]).n_obs == 13


def test_suppl_files_are_kept_per_series_and_a_page_that_is_no_listing_is_refused(http_server, tmp_path,
                                                                                   capsys):
    """Every GEO suppl/ folder holds a filelist.txt: kept by bare name, a second series got the first one's.
    A login or bot-check page sent instead of the folder's listing read as a series without files (exit 0)."""
    for acc in ("GSE1234", "GSE5678"):
        http_server.files[f"{acc}_series_matrix.txt.gz"] = gzip.compress(_SERIES.encode(), mtime=0)
    args = ["data", "fetch", "geo", "--base-url", http_server.base_url, "--cache-dir", str(tmp_path / "c"),
            "--no-progress", "--retry-wait", "0"]
    http_server.files["filelist.txt"] = b"A\n"
    assert main([*args, "--accession", "GSE1234", "--suppl", "filelist.txt"]) == 0
    http_server.files["filelist.txt"] = b"B\n"
    assert main([*args, "--accession", "GSE5678", "--suppl", "filelist.txt"]) == 0
    geo = tmp_path / "c" / "geo"
    assert (geo / "GSE1234" / "filelist.txt").read_bytes() == b"A\n"
    assert (geo / "GSE5678" / "filelist.txt").read_bytes() == b"B\n"
    capsys.readouterr()
    http_server.files[""] = b"<!DOCTYPE html><html><body>Please verify you are a human</body></html>\n"
    assert main([*args, "--accession", "GSE1234", "--suppl"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sent a web page that is no folder listing" in err


def test_a_listing_never_removes_another_process_s_download(http_server, tmp_path):
    """A second run refused the listing's lock removed the first run's partial listing (the first then
    failed): each run fetches its listing through a file of its own."""
    import subprocess
    import sys
    import time

    http_server.files[""] = b'<html><pre><a href="x.txt">x.txt</a> 1K\n</pre></html>'
    cache = tmp_path / "geo"
    cache.mkdir()
    theirs = cache / ".GSE1234_suppl.html.part"   # another process's listing, under way, its lock held
    code = ("import sys, time, pathlib; from rnagen._io import writer_lock; p = pathlib.Path(sys.argv[1])\n"
            "with writer_lock(p, kind='file'):\n    (p.parent / (p.name + '.part')).write_bytes(b'<html><pre>')\n"
            "    print('held', flush=True); time.sleep(20)")
    other = subprocess.Popen([sys.executable, "-c", code, str(cache / ".GSE1234_suppl.html")],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        got = F._fetch_geo_suppl("GSE1234", "", cache, base_url=http_server.base_url, checksum=None,
                                 kw={"retries": 0, "progress": False})
        assert got == [("x.txt", "1K")] and theirs.read_bytes() == b"<html><pre>"
    finally:
        other.kill()
        other.wait()
    time.sleep(0.1)
    assert not [p for p in cache.iterdir() if p.name.startswith(".GSE1234_suppl.") and p != theirs and
                not p.name.endswith(".lock")]


# --- outputs a fetch must not replace, half-written pairs, stale temporaries -------------------------------------
_GTEX_NAMES = ("GTEx_Analysis_2017-06-05_v8_RNASeQCv1.1.9_gene_tpm.gct.gz",
               "GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt")


def _serve_gtex(http_server, gtex_files) -> None:
    gct, attrs, _ = gtex_files
    http_server.files.update(dict(zip(_GTEX_NAMES, (gct, attrs))))


def test_fetch_refuses_to_replace_a_view_rnagen_did_not_write(http_server, tmp_path, gtex_files, capsys):
    """The user's own file under a view's name (notes, an AnnData of their own) was replaced without a word, in
    --out and in the default folder: refused as prepare refuses it, before anything is downloaded."""
    import anndata as ad

    _serve_gtex(http_server, gtex_files)
    (tmp_path / "o").mkdir()
    notes = tmp_path / "o" / "gtex_full.h5ad"
    notes.write_text("my notes\n")
    args = ["data", "fetch", "gtex", "--base-url", http_server.base_url, "--cache-dir", str(tmp_path / "c"),
            "--no-progress", "--min-samples", "1"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {tmp_path / 'o'}: its gtex_full.h5ad exists and holds data rnagen did " \
                                    "not write" in err and "delete it first" in err
    assert notes.read_text() == "my notes\n" and not http_server.requests
    (tmp_path / "c" / "gtex").mkdir(parents=True)
    ad.AnnData(np.ones((2, 3), dtype=np.float32)).write_h5ad(tmp_path / "c" / "gtex" / "gtex_landmarks.h5ad")
    before = (tmp_path / "c" / "gtex" / "gtex_landmarks.h5ad").read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "its gtex_landmarks.h5ad exists and holds data rnagen did not write" in err
    assert (tmp_path / "c" / "gtex" / "gtex_landmarks.h5ad").read_bytes() == before
    assert not (tmp_path / "c" / "gtex" / "gtex_full.h5ad").exists()
    # views rnagen wrote are replaced by the next run
    notes.unlink()
    assert main([*args, "--out", str(tmp_path / "o")]) == 0
    assert main([*args, "--out", str(tmp_path / "o"), "--min-samples", "5"]) == 0
    assert ad.read_h5ad(tmp_path / "o" / "gtex_full.h5ad").n_obs == 11


def test_views_that_are_symbolic_links_are_written_through(http_server, tmp_path, gtex_files):
    """A view kept elsewhere and linked from --out (one to nothing yet, one to an earlier view): both targets get
    the new views and the links stay; no temporary is left beside a target."""
    import anndata as ad

    _serve_gtex(http_server, gtex_files)
    args = ["data", "fetch", "gtex", "--base-url", http_server.base_url, "--cache-dir", str(tmp_path / "c"),
            "--no-progress", "--out", str(tmp_path / "o")]
    assert main([*args, "--min-samples", "5"]) == 0
    keep = tmp_path / "keep"
    keep.mkdir()
    (tmp_path / "o" / "gtex_full.h5ad").rename(keep / "full.h5ad")
    (tmp_path / "o" / "gtex_full.h5ad").symlink_to(keep / "full.h5ad")
    (tmp_path / "o" / "gtex_landmarks.h5ad").unlink()
    (tmp_path / "o" / "gtex_landmarks.h5ad").symlink_to(keep / "landmarks.h5ad")
    assert main([*args, "--min-samples", "1"]) == 0
    assert all((tmp_path / "o" / f"gtex_{k}.h5ad").is_symlink() for k in ("full", "landmarks"))
    assert ad.read_h5ad(keep / "full.h5ad").n_obs > 11 and ad.read_h5ad(keep / "landmarks.h5ad").n_obs > 11
    assert sorted(os.listdir(keep)) == ["full.h5ad", "landmarks.h5ad"]


def test_a_view_that_cannot_be_put_in_place_leaves_the_old_pair(http_server, tmp_path, gtex_files, capsys,
                                                                monkeypatch):
    """A folder under the landmark view's name: the full view was replaced, then the landmark one failed, with a
    temporary's name in the message. Refused before anything is written, naming the view; and a move that
    fails all the same gives the view already replaced its old file back."""
    import anndata as ad

    _serve_gtex(http_server, gtex_files)
    out = tmp_path / "o"
    (out / "gtex_landmarks.h5ad").mkdir(parents=True)
    args = ["data", "fetch", "gtex", "--base-url", http_server.base_url, "--cache-dir", str(tmp_path / "c"),
            "--no-progress", "--min-samples", "1", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {out}: its gtex_landmarks.h5ad is a folder" in err and ".gtex_" not in err
    assert sorted(p.name for p in out.iterdir()) == ["gtex_landmarks.h5ad"]
    (out / "gtex_landmarks.h5ad").rmdir()
    assert main(args) == 0
    before = {k: (out / f"gtex_{k}.h5ad").read_bytes() for k in ("full", "landmarks")}
    real = F.os.replace

    def failing(src, dst, *a, **k):
        if str(dst) == str(out / "gtex_landmarks.h5ad") and ".gtex_landmarks." in str(src):
            raise OSError(28, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(F.os, "replace", failing)
    record = (out / "gtex_views.json").read_bytes()
    assert main([*args, "--min-samples", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write {out / 'gtex_landmarks.h5ad'}: no space left" in err
    assert {k: (out / f"gtex_{k}.h5ad").read_bytes() for k in ("full", "landmarks")} == before
    assert sorted(p.name for p in out.iterdir()) == ["gtex_full.h5ad", "gtex_landmarks.h5ad", "gtex_views.json"]
    assert ad.read_h5ad(out / "gtex_full.h5ad").n_obs == 13
    # the record of the views' inputs is moved with them (the last of the three): failing, it leaves the old trio
    def record_failing(src, dst, *a, **k):
        if str(dst) == str(out / "gtex_views.json") and ".gtex_views." in str(src):
            raise OSError(28, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(F.os, "replace", record_failing)
    assert main([*args, "--min-samples", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write {out / 'gtex_views.json'}: no space left" in err
    assert {k: (out / f"gtex_{k}.h5ad").read_bytes() for k in ("full", "landmarks")} == before
    assert (out / "gtex_views.json").read_bytes() == record
    assert sorted(p.name for p in out.iterdir()) == ["gtex_full.h5ad", "gtex_landmarks.h5ad", "gtex_views.json"]
    # which still names the old pair: a fetch of their options keeps them
    monkeypatch.setattr(F.os, "replace", real)
    assert main(args) == 0
    assert capsys.readouterr().err == (f"rnagen: gtex_full.h5ad and gtex_landmarks.h5ad in {out} are of these "
                                       "downloads and --min-samples already (gtex_views.json); kept, not converted "
                                       "again\n")
    assert {k: (out / f"gtex_{k}.h5ad").read_bytes() for k in ("full", "landmarks")} == before


def test_a_killed_fetch_s_temporaries_are_removed_in_the_cache_folder(http_server, tmp_path, gtex_files):
    """Without --out the views go to the cache folder, where what a killed conversion left (a view or the views'
    record written but not put in place, its unfinished temporary) stayed for good; one of a live writer of the view
    is kept."""
    from rnagen._io import writer_lock

    _serve_gtex(http_server, gtex_files)
    folder = tmp_path / "c" / "gtex"
    folder.mkdir(parents=True)
    stale = [".gtex_full.4194305.h5ad", "..gtex_landmarks.4194305.h5ad.a1b2c3d4.tmp.h5ad",
             ".gtex_full.h5ad.4194305.old", ".gtex_landmarks.h5ad.x9y8z7w6.tmp.h5ad",
             # the record of the views' inputs written beside them, its temporary, the old record kept aside
             ".gtex_views.4194305.json", "..gtex_views.4194305.json.a1b2c3d4.tmp.json", ".gtex_views.json.4194305.old"]
    live = ".gtex_full.h5ad.q1w2e3r4.tmp.h5ad"   # a prepare writing gtex_full.h5ad now, its lock held
    for name in [*stale, live, ".other.h5ad.a1b2c3d4.tmp.h5ad"]:
        (folder / name).write_bytes(b"partial")
    with writer_lock(folder / "gtex_full.h5ad", kind="file"):
        got = F.fetch("gtex", cache_dir=tmp_path / "c", base_url=http_server.base_url, min_samples=1,
                      progress=False)
    assert got["full"] == folder / "gtex_full.h5ad" and got["full"].is_file()
    assert not [n for n in stale if (folder / n).exists()]
    assert (folder / live).exists() and (folder / ".other.h5ad.a1b2c3d4.tmp.h5ad").exists()


# --- cached files that are not what their name says ---------------------------------------------------------------
def test_a_damaged_cached_phenotype_file_is_named_to_delete(tmp_path, xena_files, capsys):
    """A flipped byte in the cached phenotype .gz ended in a zlib.error traceback."""
    expr, pheno, _ = xena_files
    cache = tmp_path / "c" / "tcga"
    cache.mkdir(parents=True)
    (cache / "TcgaTargetGtex_rsem_gene_tpm.gz").write_bytes(expr)
    bad = bytearray(pheno)
    for i in range(len(bad) // 2, len(bad) // 2 + 8):
        bad[i] ^= 0xFF
    (cache / "TcgaTargetGTEX_phenotype.txt.gz").write_bytes(bytes(bad))
    assert main(["data", "fetch", "tcga", "--cache-dir", str(tmp_path / "c"), "--base-url", "http://127.0.0.1:9",
                 "--no-progress", "--retries", "0"]) == 2
    err = capsys.readouterr().err
    path = cache / "TcgaTargetGTEX_phenotype.txt.gz"
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}: malformed, cut short or damaged phenotype table (zlib.error" in err
    assert err.rstrip().endswith("delete it and fetch again")


@pytest.mark.parametrize("name, body, what", [
    ("x.tsv.gz", gzip.compress(b"<html><body>Service down</body></html>\n"), "gzip data holding a web page"),
    ("x.txt", b'{"error": "NoSuchKey", "message": "The specified key does not exist."}\n', "an error document (JSON)"),
    ("x.txt.gz", gzip.compress(b'{"error": {"code": 403}}'), "gzip data holding an error document"),
], ids=["gzipped-html", "json", "gzipped-json"])
def test_error_pages_in_gzip_or_json_are_not_cached(http_server, tmp_path, name, body, what):
    """A page gzipped on its way (a .gz URL answered with a gzipped error page) or a storage error as JSON, sent
    with status 200, was cached as the file and failed every later run."""
    http_server.files[name] = body
    with pytest.raises(DataError, match=rf"{re.escape(name)} sent {re.escape(what)}.*removed, not cached"):
        F.download(f"{http_server.base_url}/{name}", tmp_path / name, retries=0, progress=False)
    assert not list(tmp_path.iterdir())
    (tmp_path / name).write_bytes(body)   # cached by an older rnagen: named, with the way on
    with pytest.raises(DataError, match=rf"cached {re.escape(str(tmp_path / name))} is {re.escape(what)}.*delete "
                                        "it and fetch again"):
        F.download(f"{http_server.base_url}/{name}", tmp_path / name, retries=0, progress=False)
    if "JSON" in what:   # a JSON document by its name is what it says
        http_server.files["ok.json"] = gzip.decompress(body) if name.endswith(".gz") else body
        assert F.download(f"{http_server.base_url}/ok.json", tmp_path / "ok.json", retries=0, progress=False).exists()


_TCGA_NAMES = ("TcgaTargetGtex_rsem_gene_tpm.gz", "TcgaTargetGTEX_phenotype.txt.gz")


@pytest.mark.parametrize("source, index, body, what", [
    ("gtex", 1, b"Error: rate limit exceeded. Please try again later.\n", "the GTEx sample attribute table"),
    ("gtex", 0, gzip.compress(b"Service Unavailable\n"), "a GCT matrix"),
    ("tcga", 0, gzip.compress(b"Service Unavailable"), "a Xena expression matrix"),
    ("tcga", 1, gzip.compress(b'{"status": 503, "detail": "try later"}'), "the Xena phenotype table"),
], ids=["gtex-attributes", "gtex-gct", "tcga-matrix", "tcga-phenotype-json"])
def test_a_plain_text_answer_is_refused_by_the_file_s_format(http_server, tmp_path, xena_files, gtex_files, capsys,
                                                            source, index, body, what):
    """A plain-text error sent with status 200 (a busy server, a rate limit, a proxy's notice; gzipped on its way
    for a .gz URL) has no web page's markup: it was cached as the data file, and every later run failed in the
    conversion. Each file is checked against its format before it enters the cache; the one line names the URL,
    quotes what came back and says the way on, and nothing is left in the cache."""
    files = dict(zip(_GTEX_NAMES, gtex_files[:2])) if source == "gtex" else dict(zip(_TCGA_NAMES, xena_files[:2]))
    name = list(files)[index]
    http_server.files.update({**files, name: body})
    cache = tmp_path / "c"
    args = ["data", "fetch", source, "--base-url", http_server.base_url, "--cache-dir", str(cache), "--no-progress",
            "--min-samples", "1", "--retries", "0"]
    assert main(args) == 2
    err = capsys.readouterr().err
    dest = cache / source / name
    began = gzip.decompress(body) if name.endswith(".gz") else body
    assert err.count("\n") == 1 and f"{http_server.base_url}/{name} sent not {what} (" in err, err
    assert f"it began {began.decode().strip()[:30]}" in err.replace("'", "")
    assert "run the same command again later" in err and f"save the file yourself as {dest}" in err
    others = [f for f in files if f != name and index == 1]   # the matrix, fetched first, is kept
    assert sorted(p.name for p in (cache / source).iterdir()) == sorted(
        [f for f in others] + [f + ".download.json" for f in others])
    # the right file, saved there by hand (no record of a download), is checked and used
    dest.write_bytes(files[name])
    http_server.requests.clear()
    assert main(args) == 0
    assert name not in [n for n, _ in http_server.requests]


def test_a_cached_error_page_is_named_to_delete_before_any_request(http_server, tmp_path, gtex_files, capsys):
    """An error page cached by an older rnagen failed only in the conversion; it is named, quoted, at once."""
    _serve_gtex(http_server, gtex_files)
    path = tmp_path / "c" / "gtex" / _GTEX_NAMES[1]
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x1b[31mError: rate limit exceeded.\x1b[0m\r\nPlease try again later.\r\n")
    args = ["data", "fetch", "gtex", "--base-url", http_server.base_url, "--cache-dir", str(tmp_path / "c"),
            "--no-progress", "--min-samples", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\r" not in err
    assert f"cached {path} is not the GTEx sample attribute table (a tab-separated header with SAMPID and SMTS) " \
           "(it begins '[31mError: rate limit exceeded. [0m Please try again later.'); delete it and fetch again" in err
    # a matrix that is no GCT, given to the conversion by hand, likewise names the file
    g = _write(tmp_path / "g.gct.gz", gzip.compress(b"Error: rate limit\n"))
    with pytest.raises(DataError, match=rf"{re.escape(str(g))}: not a GTEx GCT 1.2 file.*delete {re.escape(str(g))} "
                                        "and fetch again"):
        F.convert_gtex(g, _write(tmp_path / "a.txt", gtex_files[1]), progress=False)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_a_matrix_sharing_no_sample_with_the_annotations_is_said_so(tmp_path, gtex_files):
    """The error said 'no class has at least 1 samples; lower --min-samples', which no --min-samples mends."""
    gct, attrs, truth = gtex_files
    other = attrs.decode().replace("GTEX-", "GTEX-X").encode()
    g = _write(tmp_path / "g.gct.gz", gct)
    a = _write(tmp_path / "a.txt", other)
    with pytest.raises(DataError, match=rf"{re.escape(str(g))}: none of the samples of {re.escape(str(a))} is a "
                                        rf"column of the matrix; .*delete {re.escape(str(g))} and "
                                        rf"{re.escape(str(a))} and fetch again"):
        F.convert_gtex(g, a, min_samples=1, progress=False)


def test_a_damaged_cached_platform_annotation_is_not_reused(http_server, tmp_path, capsys):
    """A cached GPL annotation with a damaged gzip stream was reused and the fetch reported as a success."""
    http_server.files["GSE1234_series_matrix.txt.gz"] = gzip.compress(_SERIES.encode(), mtime=0)
    annot = gzip.compress(_ANNOT.encode() * 50, mtime=0)
    http_server.files["GPL96.annot.gz"] = annot
    args = ["data", "fetch", "geo", "--accession", "GSE1234", "--base-url", http_server.base_url, "--cache-dir",
            str(tmp_path), "--no-progress", "--retries", "0"]
    assert main(args) == 0
    capsys.readouterr()
    cached = tmp_path / "geo" / "GPL96.annot.gz"
    cached.write_bytes(annot[: len(annot) // 2])
    (tmp_path / "geo" / "GPL96.annot.gz.download.json").unlink(missing_ok=True)   # as an older rnagen: no record
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cached {cached} is a gzip stream cut short or damaged" in err
    assert "delete it and fetch again" in err
    cached.unlink()
    assert main(args) == 0 and cached.read_bytes() == annot


# --- options ------------------------------------------------------------------------------------------------------
def test_platform_of_a_single_platform_series_uses_its_plain_matrix(http_server, tmp_path, capsys):
    """GEO names a matrix by its platform only for a series on several: --platform GPL96 for a series on GPL96
    alone failed with 'is GSE1234 on platform GPL96?'."""
    http_server.files["GSE1234_series_matrix.txt.gz"] = gzip.compress(_SERIES.encode(), mtime=0)
    http_server.files["GPL96.annot.gz"] = gzip.compress(_ANNOT.encode(), mtime=0)
    args = ["data", "fetch", "geo", "--accession", "GSE1234", "--base-url", http_server.base_url, "--cache-dir",
            str(tmp_path), "--no-progress", "--retries", "0"]
    assert main([*args, "--platform", "GPL96"]) == 0
    assert "downloaded GSE1234_series_matrix.txt.gz (GPL96) and GPL96.annot.gz" in capsys.readouterr().out
    assert main([*args, "--platform", "GPL570"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GSE1234 is on platform GPL96, not GPL570; remove --platform" in err


def test_empty_option_values_are_refused(tmp_path, capsys):
    """--base-url "" fetched from the public host, --out "" wrote into the cache folder, --checksum "=..." was an
    unknown file named by nothing."""
    base = ["data", "fetch", "tcga", "--cache-dir", str(tmp_path / "c"), "--no-progress"]
    for extra, msg in ((["--base-url", ""], "--base-url is empty"),
                       (["--base-url", "http://127.0.0.1:9", "--out", " "], "--out is empty"),
                       (["--base-url", "http://127.0.0.1:9", "--checksum", "=sha256:" + "0" * 64],
                        "--checksum =sha256:" + "0" * 64 + ": no file name there; write NAME=sha256:HEX")):
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and msg in err, err
    assert not (tmp_path / "c").exists()
    assert main(["data", "fetch", "geo", "--accession", "GSE1", "--platform", "", "--cache-dir", str(tmp_path)]) == 2
    assert "--platform is empty" in capsys.readouterr().err
    with pytest.raises(DataError, match="--base-url is empty"):
        F.fetch_recount3("SRP009615", base_url="", cache_dir=tmp_path, progress=False)


def test_an_interrupted_transfer_s_reason_is_one_plain_line(http_server, tmp_path):
    """The reason read as a nested Python tuple: (('Connection broken: IncompleteRead(...)', IncompleteRead(...)))."""
    http_server.files["blob.bin"] = BIG
    http_server.drop_first.add("blob.bin")
    with pytest.raises(DataError) as e:
        F.download(f"{http_server.base_url}/blob.bin", tmp_path / "blob.bin", retries=0, progress=False)
    assert re.search(r"interrupted after \d+ bytes \(connection broken: \d+ bytes read, \d+ more expected\); run "
                     "the same command again", str(e.value)), str(e.value)
    with pytest.raises(DataError) as e:
        F.download("http://127.0.0.1:9/x.bin", tmp_path / "x.bin", retries=0, progress=False)
    assert "(cannot connect: Connection refused)" in str(e.value) and "Pool" not in str(e.value)


def test_a_full_disk_while_downloading_names_the_file_and_keeps_what_came(http_server, tmp_path, monkeypatch):
    """The cache's disk fills during a transfer (the write's OSError names no file): one OutputError naming the
    .part file, the full disk and the resume; the bytes that came are kept and a later call resumes from them.
    A network error that is an OSError too (a reset connection) is still an interruption, not a full disk."""
    import errno

    from rnagen.errors import OutputError

    http_server.files["blob.bin"] = BIG
    dest = tmp_path / "blob.bin"
    real = F._transfer

    def fills(session, url, part, **kw):
        part.write_bytes(BIG[:1000])
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(F, "_transfer", fills)
    with pytest.raises(OutputError, match=r"cannot write .*blob\.bin\.part: no space left on the device; .*resume"):
        F.download(f"{http_server.base_url}/blob.bin", dest, retries=3, retry_wait=0, progress=False)
    assert (tmp_path / "blob.bin.part").read_bytes() == BIG[:1000] and not dest.exists()

    def reset(session, url, part, **kw):
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    monkeypatch.setattr(F, "_transfer", reset)
    with pytest.raises(ConnectionResetError):
        F.download(f"{http_server.base_url}/blob.bin", dest, retries=0, progress=False)
    monkeypatch.setattr(F, "_transfer", real)
    (tmp_path / "blob.bin.part").unlink()
    F.download(f"{http_server.base_url}/blob.bin", dest, retries=0, progress=False)
    assert dest.read_bytes() == BIG


def test_the_default_cache_is_absolute_whatever_home_and_xdg_say(monkeypatch):
    """$RNAGEN_CACHE, then an absolute $XDG_CACHE_HOME, then the user's home: an empty HOME (a job script's
    ``HOME=``) put the cache at /.cache/rnagen, and a relative XDG_CACHE_HOME (ignored by the XDG specification)
    under the current folder."""
    import os
    import pwd
    from pathlib import Path

    own = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "rnagen"
    monkeypatch.delenv("RNAGEN_CACHE", raising=False)
    for home, xdg in (("", ""), ("rel", "also-rel")):
        monkeypatch.setenv("HOME", home)
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert F.default_cache_dir() == own, (home, xdg)
    monkeypatch.setenv("XDG_CACHE_HOME", "~/c")   # ~ is the user's home, not the file system's root
    assert F.default_cache_dir() == own.parent.parent / "c" / "rnagen"
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere/cache")
    assert F.default_cache_dir() == Path("/somewhere/cache/rnagen")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/home/x")
    assert F.default_cache_dir() == Path("/home/x/.cache/rnagen")
    monkeypatch.setenv("RNAGEN_CACHE", "/c")
    assert F.default_cache_dir() == Path("/c")


# --- a server that answers late, asks to wait, or labels its answer; a cache changed since ------------------------
def test_a_server_asking_to_wait_is_waited_for(http_server, tmp_path):
    """A 429/503 with Retry-After was asked again after --retry-wait (1, 2, 4 s) whatever it said: a rate limiter
    asking for a minute got three quick requests and the run failed. Its time is waited out, up to a limit; a
    longer one fails at once, saying so."""
    import time

    http_server.files["busy.txt"] = b"gene\ts1\nTP53\t1\n"
    http_server.fail_first["busy.txt"] = [503]
    http_server.retry_after["busy.txt"] = "1"
    t0 = time.monotonic()
    F.download(f"{http_server.base_url}/busy.txt", tmp_path / "busy.txt", retries=2, retry_wait=0, progress=False)
    assert time.monotonic() - t0 >= 1.0 and len(http_server.requests) == 2
    http_server.files["later.txt"] = b"x\n"
    http_server.fail_first["later.txt"] = [429, 429]
    http_server.retry_after["later.txt"] = "3600"
    t0 = time.monotonic()
    with pytest.raises(DataError, match=r"put off by the server \(HTTP 429 from the server, which asks to wait 3600 "
                                        r"s, longer than rnagen waits, 120 s\); run the same command again after "
                                        "that"):
        F.download(f"{http_server.base_url}/later.txt", tmp_path / "later.txt", retries=3, retry_wait=0,
                   progress=False)
    assert time.monotonic() - t0 < 1.0 and not list(tmp_path.glob("later*"))
    assert F._retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0   # a date passed: now
    assert F._retry_after({"Retry-After": "soon"}) is None and F._retry_after({}) is None


def test_a_server_that_stops_sending_is_named_by_its_silence(http_server, tmp_path):
    """A server that sent its headers and then nothing was reported as '(Read timed out.)', without the time
    waited, and an empty .part was left behind for nothing to resume."""
    http_server.files["slow.txt"] = b"gene\ts1\n"
    http_server.hang["slow.txt"] = 2.0
    with pytest.raises(DataError, match=r"interrupted after 0 bytes \(the server sent nothing for 0\.3 s "
                                        r"\(timeout\)\); run the same command again$"):
        F.download(f"{http_server.base_url}/slow.txt", tmp_path / "slow.txt", retries=0, timeout=0.3, progress=False)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("ctype, what", [("text/html; charset=utf-8", "a web page by its Content-Type (text/html)"),
                                         ("application/problem+json", "an error document by its Content-Type")])
def test_an_answer_its_server_labels_a_page_is_not_cached(http_server, tmp_path, ctype, what):
    """A file of no known format answered with a page that has no markup ('Access denied') or a JSON error of
    another shape ({"status": 503}) was cached; the server's Content-Type says what it sent."""
    for name, body in (("a.txt", b"Access denied\n"), ("b.tsv", b'{"status": 503, "title": "busy"}')):
        http_server.files[name] = body
        http_server.content_type[name] = ctype
        with pytest.raises(DataError, match=rf"{re.escape(name)} sent {re.escape(what)}.*removed, not cached; it "
                                            rf"began {re.escape(repr(body.decode().strip()))}\); "):
            F.download(f"{http_server.base_url}/{name}", tmp_path / name, retries=0, progress=False)
    assert not list(tmp_path.iterdir())
    # the same label on the file its name says, or on gzip data under a .gz name, is no refusal
    http_server.files["page.html"] = b"Access denied\n"
    http_server.content_type["page.html"] = "text/html"
    http_server.files["x.tsv.gz"] = gzip.compress(b"gene\ts1\n")
    http_server.content_type["x.tsv.gz"] = ctype
    for name in ("page.html", "x.tsv.gz"):
        assert F.download(f"{http_server.base_url}/{name}", tmp_path / name, retries=0, progress=False).exists()


def test_a_cached_file_cut_short_or_changed_since_is_refused_on_use(http_server, tmp_path):
    """A cached text table that lost its last lines (cut at a line end) still reads as a table: it was used as
    it was, fewer samples and no word. Its size, time and sha256 are recorded when it is downloaded and checked on
    each use; a file only touched is used, and one put there by hand without a record is checked by content."""
    import os

    body = b"SAMPID\tSMTS\n" + b"".join(b"S%d\tBlood\n" % i for i in range(200))
    http_server.files["attrs.txt"] = body
    url, dest = f"{http_server.base_url}/attrs.txt", tmp_path / "attrs.txt"
    record = tmp_path / "attrs.txt.download.json"
    F.download(url, dest, retries=0, progress=False)
    assert record.exists()
    dest.write_bytes(body[: body.index(b"S150")])
    with pytest.raises(DataError, match=rf"cached {re.escape(str(dest))} is \d+ bytes, {len(body)} when it was "
                                        rf"downloaded: cut short or changed since; delete it and fetch again \(or, "
                                        rf"if you put it there yourself, delete {re.escape(str(record))}\)"):
        F.download(url, dest, retries=0, progress=False)
    dest.write_bytes(body.replace(b"S7\tBlood", b"S7\tBrain"))   # the same size, edited by hand
    with pytest.raises(DataError, match="changed since it was downloaded \\(its sha256 differs\\)"):
        F.download(url, dest, retries=0, progress=False)
    n = len(http_server.requests)
    dest.write_bytes(body)   # the same bytes again: a new time only
    assert F.download(url, dest, retries=0, progress=False) == dest and len(http_server.requests) == n
    st = os.stat(dest)
    assert '"mtime_ns": %d' % st.st_mtime_ns in record.read_text()   # the record follows the touch
    record.unlink()   # put there by hand: content checks alone
    dest.write_bytes(body[:100] + b"\n")
    assert F.download(url, dest, retries=0, progress=False) == dest


def test_a_file_saved_by_hand_after_a_failed_download_is_used(http_server, tmp_path):
    """A cached file deleted (as an error told), the server then busy: the refusal says to save the file by hand,
    and that file is checked and used; the record of the deleted download, another size, refused it."""
    body = b"SAMPID\tSMTS\n" + b"".join(b"S%d\tBlood\n" % i for i in range(50))
    http_server.files["attrs.txt"] = body
    url, dest = f"{http_server.base_url}/attrs.txt", tmp_path / "attrs.txt"
    F.download(url, dest, retries=0, progress=False)
    dest.unlink()
    http_server.fail_first["attrs.txt"] = [503]
    with pytest.raises(DataError, match="interrupted after 0 bytes"):
        F.download(url, dest, retries=0, progress=False)
    dest.write_bytes(body + b"S50\tLung\n")   # a newer version of the table, saved from the portal
    n = len(http_server.requests)
    assert F.download(url, dest, retries=0, progress=False) == dest and len(http_server.requests) == n


# --- GEO's and recount3's files are checked against their formats ---------------------------------------------------
_BUSY = {"text": b"Service Unavailable: too many requests, try again later\n",
         "json": b'{"status": "throttled", "retry_in": 60}\n'}


def _geo_and_recount3_files() -> dict[str, tuple[str, list[str], str, dict[str, bytes]]]:
    """Each GEO and recount3 file a fetch downloads, by its role: (its name on the server, the command's arguments,
    the format it is checked against, what the server holds for that command to reach the file)."""
    counts_gz = _ncbi_counts()[0]
    runs = ["SRR10", "SRR11"]
    rc = _recount3_files(runs, np.array([[5, 9], [40, 0], [1, 1]], dtype=np.int64), [76, 100])
    geo = {"GSE1234_series_matrix.txt.gz": gzip.compress(_SERIES.encode(), mtime=0),
           "GPL96.annot.gz": gzip.compress(_ANNOT.encode(), mtime=0)}
    rnaseq = {"GSE5678_series_matrix.txt.gz": gzip.compress(_RNASEQ_SERIES.encode(), mtime=0),
              "?type=rnaseq_counts&acc=GSE5678": _PAGE.encode()}
    counts_name = f"?type=rnaseq_counts&acc=GSE5678&format=file&file={_RAW}"
    r3 = ["recount3", "--project", "SRP012345"]
    return {"series": ("GSE1234_series_matrix.txt.gz", ["geo", "--accession", "GSE1234"], "not a GEO series matrix",
                       geo),
            "annotation": ("GPL96.annot.gz", ["geo", "--accession", "GSE1234"], "not a GEO platform annotation", geo),
            "counts": (counts_name, ["geo", "--accession", "GSE5678", "--counts", "raw"], "not NCBI's gene counts",
                       {**rnaseq, counts_name: counts_gz}),
            "sums": ("sra.gene_sums.SRP012345.G026.gz", r3, "not recount3 gene sums", rc),
            "qc": ("sra.recount_qc.SRP012345.MD.gz", r3, "not a recount3 metadata table", rc),
            "samples": ("sra.sra.SRP012345.MD.gz", r3, "not a recount3 metadata table", rc)}


@pytest.mark.parametrize("busy", sorted(_BUSY))
@pytest.mark.parametrize("role", ["series", "annotation", "counts", "sums", "qc", "samples"])
def test_geo_and_recount3_answers_that_are_not_the_file_s_format_are_not_cached(http_server, tmp_path, capsys,
                                                                                 role, busy):
    """A server's plain-text or JSON answer sent with status 200 and compressed on its way (a gzip stream, as a
    .gz file is) was cached as a series matrix, a platform annotation, NCBI's counts or a recount3 file: refused by
    the file's format, quoted, nothing kept. The same content saved into the cache is named before any request."""
    served, args, what, files = _geo_and_recount3_files()[role]
    http_server.files.update(files)
    http_server.files[served] = gzip.compress(_BUSY[busy], mtime=0)
    cache = tmp_path / "c"
    cmd = ["data", "fetch", *args, "--base-url", http_server.base_url, "--cache-dir", str(cache), "--no-progress",
           "--retries", "0"]
    assert main(cmd) == 2
    err = capsys.readouterr().err
    began = _BUSY[busy].decode().strip()[:40]
    assert err.count("\n") == 1 and f"sent {what} (" in err and "removed, not cached; it began" in err, err
    assert began in err.replace("\\'", "'")
    name = served.rsplit("file=", 1)[-1]
    folder = cache / ("geo" if args[0] == "geo" else "recount3")
    assert not (folder / name).exists() and not (folder / (name + ".part")).exists()
    assert not (folder / (name + ".download.json")).exists()
    # the good file is cached; the same answer put there by hand is named before anything is asked again
    http_server.files[served] = files[served]
    assert main(cmd) == 0 and (folder / name).read_bytes() == files[served]
    capsys.readouterr()
    (folder / name).write_bytes(gzip.compress(_BUSY[busy], mtime=0))
    (folder / (name + ".download.json")).unlink()
    n = len(http_server.requests)
    assert main(cmd) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cached {folder / name} is {what}" in err and "delete it and fetch again" in err
    # the cached file is checked, not asked for again
    assert all(r[0] != served for r in http_server.requests[n:])


# --- a fetch killed with SIGKILL, and two fetches of one file at once -----------------------------------------------
def _dead_pid() -> int:
    """The id of a process that has ended."""
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_what_a_killed_fetch_left_beside_a_linked_view_s_target_is_removed(http_server, tmp_path, gtex_files):
    """A fetch killed with SIGKILL after writing the views of links to another folder left them there (hidden, named
    by its process id) for good: the next fetch removes what a process that no longer runs left beside the targets,
    and keeps a file of a process that runs."""
    import signal
    import subprocess
    import sys

    import anndata as ad

    _serve_gtex(http_server, gtex_files)
    out, keep = tmp_path / "o", tmp_path / "keep"
    out.mkdir()
    keep.mkdir()
    (out / "gtex_full.h5ad").symlink_to(keep / "full.h5ad")
    (out / "gtex_landmarks.h5ad").symlink_to(keep / "landmarks.h5ad")
    # killed once both views are written beside their targets, before they are put in place
    code = ("import time\nfrom rnagen.data import fetch as F\n"
            "def stop(moves):\n    print('written', flush=True)\n    time.sleep(60)\n"
            "F.replace_together = stop\n"
            f"F.fetch('gtex', out_dir={str(out)!r}, cache_dir={str(tmp_path / 'c')!r}, "
            f"base_url={http_server.base_url!r}, min_samples=1, progress=False)\n")
    killed = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert killed.stdout.readline().strip() == "written"
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    left = sorted(n for n in os.listdir(keep) if not n.endswith(".lock"))   # a lock file is reused as it is
    assert left == [f".full.{killed.pid}.h5ad", f".landmarks.{killed.pid}.h5ad"]
    # and the record of the views' inputs, written beside it to be moved with them
    assert sorted(n for n in os.listdir(out) if not n.endswith(".lock")) == [
        f".gtex_views.{killed.pid}.json", "gtex_full.h5ad", "gtex_landmarks.h5ad"]
    dead = _dead_pid()
    # what a kill mid-write and mid-replacement leaves too: an unfinished temporary, an old view kept aside
    others = [f"..full.{dead}.h5ad.a1b2c3d4.tmp.h5ad", f".landmarks.h5ad.{dead}.old"]
    runs = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = [f".full.{runs.pid}.h5ad", f"..landmarks.{runs.pid}.h5ad.q1w2e3r4.tmp.h5ad"]
        for name in [*others, *live]:
            (keep / name).write_bytes(b"partial")
        got = F.fetch("gtex", out_dir=out, cache_dir=tmp_path / "c", base_url=http_server.base_url, min_samples=1,
                      progress=False)
        assert sorted(os.listdir(keep)) == sorted(["full.h5ad", "landmarks.h5ad", *live])
    finally:
        runs.kill()
        runs.wait()
    assert got["full"] == out / "gtex_full.h5ad" and (out / "gtex_full.h5ad").is_symlink()
    assert ad.read_h5ad(keep / "full.h5ad").n_obs == 13 and ad.read_h5ad(keep / "landmarks.h5ad").n_obs == 13
    assert sorted(os.listdir(out)) == ["gtex_full.h5ad", "gtex_landmarks.h5ad", "gtex_views.json"]


def test_a_second_fetch_of_a_file_being_downloaded_waits_and_uses_it(http_server, tmp_path):
    """Two fetches of one recount3 project at once: the second was refused while the first downloaded the gene
    sums. It waits for the first (saying so), then takes each file from the cache, checked: every file is asked of
    the server once, and both commands end well with the same files."""
    import subprocess
    import sys
    import threading
    import time

    from rnagen._io import lock_holder

    runs = ["SRR10", "SRR11", "SRR12"]
    files = _recount3_files(runs, np.array([[5, 9, 1], [40, 0, 2], [1, 1, 3]], dtype=np.int64), [76, 100, 150])
    http_server.files.update(files)
    sums = "sra.gene_sums.SRP012345.G026.gz"
    http_server.hold[sums] = threading.Event()   # a slow server: the first fetch's transfer ends when the test says
    cache = tmp_path / "c"
    code = ("import sys\nfrom rnagen.cli.main import main\n"
            f"sys.exit(main(['data', 'fetch', 'recount3', '--project', 'SRP012345', '--base-url', "
            f"{http_server.base_url!r}, '--cache-dir', {str(cache)!r}, '--no-progress']))\n")
    first = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = None
    try:
        # the first holds the file's lock before its request reaches the server: both are waited for (a loaded
        # machine can put seconds between them)
        end = time.monotonic() + 120
        while (lock_holder(cache / "recount3" / sums, kind="file") != str(first.pid) or not http_server.requests) \
                and time.monotonic() < end and first.poll() is None:
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()
        assert lock_holder(cache / "recount3" / sums, kind="file") == str(first.pid)
        assert [r[0] for r in http_server.requests] == [sums]   # the first is downloading the gene sums
        second = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        line = second.stderr.readline()
        assert line == (f"rnagen: {sums} is being downloaded by another rnagen process (pid {first.pid}); waiting "
                        "for it to finish (up to 600 s)\n"), line
    finally:
        http_server.hold[sums].set()
        outs = [p.communicate(timeout=120) for p in (first, second) if p is not None]
    assert first.returncode == 0 and second is not None and second.returncode == 0, outs
    # no error: at most another wait, for a file the first was downloading when the second came to it
    assert all("is being downloaded by another rnagen process" in x for x in outs[1][1].splitlines()), outs
    for out, _ in outs:
        assert "SRP012345: downloaded sra.gene_sums.SRP012345.G026.gz, sra.recount_qc.SRP012345.MD.gz and " in out
    assert sorted(r[0] for r in http_server.requests) == sorted(files)   # each file asked for once
    for name, data in files.items():
        assert (cache / "recount3" / name).read_bytes() == data
    assert sorted(os.listdir(cache / "recount3")) == sorted([*files, *(n + ".download.json" for n in files)])


@pytest.mark.parametrize("where", ["cache", "out"])
def test_a_second_fetch_of_views_being_written_waits_and_writes_them_again(http_server, tmp_path, gtex_files, where):
    """Two `fetch gtex` at once into one folder: the second was refused at the folder's lock, at once with --out
    (the command's claim on it), and without --out once it had converted, while the first put its views in place.
    It waits for the first (saying so once), then takes the downloads from the cache and writes the views again:
    every file is asked of the server once, both commands end well, and the views are the second's (Brain's two
    samples dropped by its --min-samples 3)."""
    import subprocess
    import sys
    import threading
    import time

    import anndata as ad

    from rnagen._io import lock_holder

    _, _, truth = gtex_files
    _serve_gtex(http_server, gtex_files)
    # a slow server: the first's download of the sample table (the second file fetched) ends when the test says
    http_server.hold[_GTEX_NAMES[1]] = threading.Event()
    cache, out, ready, go = tmp_path / "c", tmp_path / "o", tmp_path / "ready", tmp_path / "go"
    folder = cache / "gtex" if where == "cache" else out
    args = ["data", "fetch", "gtex", "--base-url", http_server.base_url, "--cache-dir", str(cache), "--no-progress",
            *(["--out", str(out)] if where == "out" else [])]
    # the first stops with its views written, its locks held, until the test says go: the second comes to them then
    first_code = ("import pathlib, sys, time\nfrom rnagen.cli.main import main\nfrom rnagen.data import fetch as F\n"
                  "put = F.replace_together\n"
                  f"def held(moves):\n    print('writing', flush=True)\n"
                  f"    while not pathlib.Path({str(go)!r}).exists():\n        time.sleep(0.05)\n    put(moves)\n"
                  f"F.replace_together = held\nsys.exit(main({[*args, '--min-samples', '1']!r}))\n")
    # the second converts once the first holds the views' locks (else it could overtake the first, converting first)
    second_code = ("import pathlib, sys, time\nfrom rnagen.cli.main import main\nfrom rnagen.data import fetch as F\n"
                   "convert = F.convert_gtex\n"
                   f"def late(*a, **k):\n    while not pathlib.Path({str(ready)!r}).exists():\n"
                   "        time.sleep(0.05)\n    return convert(*a, **k)\n"
                   f"F.convert_gtex = late\nsys.exit(main({[*args, '--min-samples', '3']!r}))\n")
    first = subprocess.Popen([sys.executable, "-c", first_code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    second = None
    try:
        end = time.monotonic() + 60
        # the first holds the table's lock before its request reaches the server: wait for both
        while ((lock_holder(cache / "gtex" / _GTEX_NAMES[1], kind="file") != str(first.pid)
                or len(http_server.requests) < len(_GTEX_NAMES)) and time.monotonic() < end):
            time.sleep(0.05)
        assert [r[0] for r in http_server.requests] == list(_GTEX_NAMES)   # the first is downloading the table
        second = subprocess.Popen([sys.executable, "-c", second_code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        waits = [second.stderr.readline()]
        if where == "cache":   # the download is waited for, then the views
            assert waits[0] == (f"rnagen: {_GTEX_NAMES[1]} is being downloaded by another rnagen process (pid "
                                f"{first.pid}); waiting for it to finish (up to 600 s)\n"), waits
        else:   # the folder is claimed for the whole command: the second asks nothing of the server meanwhile
            assert [r[0] for r in http_server.requests] == list(_GTEX_NAMES)
        http_server.hold[_GTEX_NAMES[1]].set()
        assert first.stdout.readline() == "writing\n"
        ready.touch()
        if where == "cache":
            waits.append(second.stderr.readline())
        assert waits[-1] == (f"rnagen: {folder} is being written by another rnagen process (pid {first.pid}); waiting "
                             "for it to finish (up to 600 s)\n"), waits
    finally:
        http_server.hold[_GTEX_NAMES[1]].set()
        ready.touch()
        go.touch()
        outs = [p.communicate(timeout=120) for p in (first, second) if p is not None]
    assert first.returncode == 0 and second is not None and second.returncode == 0, outs
    assert outs[1][1] == "", outs   # said once each: no other line, no error
    for stdout, _ in outs:
        assert f"full-gene view -> {folder / 'gtex_full.h5ad'}\n" in stdout
    assert sorted(r[0] for r in http_server.requests) == sorted(_GTEX_NAMES)   # each file asked for once
    full, lm = (ad.read_h5ad(folder / f"gtex_{k}.h5ad") for k in ("full", "landmarks"))
    assert full.obs["tissue"].value_counts().to_dict() == {"Blood": 6, "Lung": 5} and lm.n_obs == 11
    rows = [truth["ids"].index(v) for v in full.var["ensembl_id_versioned"]]
    np.testing.assert_array_equal(full.X, truth["values"][rows, :11].T)
    views = ["gtex_full.h5ad", "gtex_landmarks.h5ad", "gtex_views.json"]
    downloads = [*_GTEX_NAMES, *(n + ".download.json" for n in _GTEX_NAMES)]
    assert sorted(os.listdir(folder)) == sorted(views + (downloads if where == "cache" else []))


@pytest.mark.parametrize("where", ["cache", "out"])
def test_a_second_fetch_of_the_same_views_waits_and_uses_them_unconverted(http_server, tmp_path, gtex_files, where):
    """Two `fetch gtex` at once of the same downloads and --min-samples: without --out the second converted the
    cached files beside the first (minutes and a matrix's memory) and only then waited to put its pair in place;
    with --out it waited for the first, then converted the same files again. It waits for the first's views, finds
    them of the same inputs (the record beside them) and converts nothing: one conversion in all, both commands end
    well naming the same views, which are the first's."""
    import json
    import subprocess
    import sys

    import anndata as ad

    _serve_gtex(http_server, gtex_files)
    cache, go, log = tmp_path / "c", tmp_path / "go", tmp_path / "conversions"
    folder = cache / "gtex" if where == "cache" else tmp_path / "o"
    args = ["data", "fetch", "gtex", "--base-url", http_server.base_url, "--cache-dir", str(cache), "--no-progress",
            "--min-samples", "1", *(["--out", str(folder)] if where == "out" else [])]
    # every conversion adds its process id to the log
    counted = ("import os, pathlib, sys, time\nfrom rnagen.cli.main import main\nfrom rnagen.data import fetch as F\n"
               "convert = F.convert_gtex\n"
               f"def counted(*a, **k):\n    with open({str(log)!r}, 'a') as fh:\n"
               "        fh.write(f'{os.getpid()}\\n')\n    return convert(*a, **k)\n"
               "F.convert_gtex = counted\n")
    # the first stops with its views written, its locks held, until the test says go: the second comes to them then
    first_code = (counted + "put = F.replace_together\n"
                  f"def held(moves):\n    print('writing', flush=True)\n"
                  f"    while not pathlib.Path({str(go)!r}).exists():\n        time.sleep(0.05)\n    put(moves)\n"
                  f"F.replace_together = held\nsys.exit(main({args!r}))\n")
    second_code = counted + f"sys.exit(main({args!r}))\n"
    first = subprocess.Popen([sys.executable, "-c", first_code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    second = None
    try:
        assert first.stdout.readline() == "writing\n", first.communicate()
        second = subprocess.Popen([sys.executable, "-c", second_code], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        wait = second.stderr.readline()
        assert wait == (f"rnagen: {folder} is being written by another rnagen process (pid {first.pid}); waiting "
                        "for it to finish (up to 600 s)\n"), wait
    finally:
        go.touch()
        outs = [p.communicate(timeout=120) for p in (first, second) if p is not None]
    assert first.returncode == 0 and second is not None and second.returncode == 0, outs
    assert log.read_text().split() == [str(first.pid)], outs   # one conversion: the first's
    assert outs[1][1] == (f"rnagen: gtex_full.h5ad and gtex_landmarks.h5ad in {folder} are of these downloads and "
                          "--min-samples already (gtex_views.json); kept, not converted again\n"), outs
    for stdout, _ in outs:
        assert f"full-gene view -> {folder / 'gtex_full.h5ad'}\n" in stdout
        assert f"landmark view  -> {folder / 'gtex_landmarks.h5ad'}\n" in stdout
    assert sorted(r[0] for r in http_server.requests) == sorted(_GTEX_NAMES)   # each file asked for once
    full, lm = (ad.read_h5ad(folder / f"gtex_{k}.h5ad") for k in ("full", "landmarks"))
    assert full.n_obs == lm.n_obs == 13 and full.n_vars > lm.n_vars
    rec = json.loads((folder / "gtex_views.json").read_text())
    assert rec["min_samples"] == 1 and sorted(i["name"] for i in rec["inputs"].values()) == sorted(_GTEX_NAMES)
    downloads = [*_GTEX_NAMES, *(n + ".download.json" for n in _GTEX_NAMES)] if where == "cache" else []
    assert sorted(n for n in os.listdir(folder) if not n.endswith(".lock")) == sorted(
        ["gtex_full.h5ad", "gtex_landmarks.h5ad", "gtex_views.json", *downloads])


def test_views_of_the_same_inputs_are_kept_and_others_converted(http_server, tmp_path, gtex_files, capsys,
                                                              monkeypatch):
    """The record beside the views (`gtex_views.json`) says what they were converted from: a fetch of the same
    downloads, --min-samples and rnagen version keeps views it names unchanged; another --min-samples, another
    download, another version, or a view replaced since, is converted anew. A file of the record's name that
    rnagen did not write is refused, not replaced."""
    import json

    import anndata as ad

    import rnagen
    from rnagen._io import write_h5ad

    gct, attrs, _ = gtex_files
    _serve_gtex(http_server, gtex_files)
    cache = tmp_path / "c"
    folder = cache / "gtex"
    args = ["data", "fetch", "gtex", "--base-url", http_server.base_url, "--cache-dir", str(cache), "--no-progress"]
    converted = []
    real = F.convert_gtex

    def counted(*a, **k):
        converted.append(k["min_samples"])
        return real(*a, **k)

    monkeypatch.setattr(F, "convert_gtex", counted)
    kept = (f"rnagen: gtex_full.h5ad and gtex_landmarks.h5ad in {folder} are of these downloads and --min-samples "
            "already (gtex_views.json); kept, not converted again\n")

    def run(*more):
        before = {k: os.stat(folder / f"gtex_{k}.h5ad").st_ino for k in ("full", "landmarks")
                  if (folder / f"gtex_{k}.h5ad").exists()}
        assert main([*args, *more]) == 0
        after = {k: os.stat(folder / f"gtex_{k}.h5ad").st_ino for k in ("full", "landmarks")}
        return capsys.readouterr().err, before == after

    assert run("--min-samples", "1") == ("", False) and converted == [1]
    rec = json.loads((folder / "gtex_views.json").read_text())
    assert rec["source"] == "gtex" and rec["min_samples"] == 1 and rec["rnagen"] == rnagen.__version__
    assert rec["inputs"] == {
        "expression": {"name": _GTEX_NAMES[0], "size": len(gct), "sha256": hashlib.sha256(gct).hexdigest()},
        "samples": {"name": _GTEX_NAMES[1], "size": len(attrs), "sha256": hashlib.sha256(attrs).hexdigest()}}
    for key in ("full", "landmarks"):
        st = os.stat(folder / f"gtex_{key}.h5ad")
        assert rec["views"][key] == {"name": f"gtex_{key}.h5ad", "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                     "inode": st.st_ino}
    # the same again: kept, the same files in place
    assert run("--min-samples", "1") == (kept, True) and converted == [1]
    # another --min-samples: converted, and the record names it
    assert run("--min-samples", "3") == ("", False) and converted == [1, 3]
    assert ad.read_h5ad(folder / "gtex_full.h5ad").n_obs == 11
    assert run("--min-samples", "3") == (kept, True) and converted == [1, 3]
    # a view replaced since (another command writing it): converted, the landmark view's rows those of the inputs
    lm = ad.read_h5ad(folder / "gtex_landmarks.h5ad")
    write_h5ad(lm[:2].copy(), folder / "gtex_landmarks.h5ad")
    assert run("--min-samples", "3") == ("", False) and converted == [1, 3, 3]
    assert ad.read_h5ad(folder / "gtex_landmarks.h5ad").n_obs == 11
    # another rnagen version (its conversion may differ): converted
    monkeypatch.setattr(rnagen, "__version__", "0.0.0+other")
    assert run("--min-samples", "3") == ("", False) and converted == [1, 3, 3, 3]
    assert run("--min-samples", "3") == (kept, True) and converted == [1, 3, 3, 3]
    # another download of the sample table (Lung's samples named Blood): converted, the views of the new table
    relabelled = attrs.replace(b"\tLung\tLung\t", b"\tBlood\tWhole Blood\t")
    assert relabelled != attrs
    http_server.files[_GTEX_NAMES[1]] = relabelled
    for name in (_GTEX_NAMES[1], _GTEX_NAMES[1] + ".download.json"):
        (folder / name).unlink()
    assert run("--min-samples", "3") == ("", False) and converted == [1, 3, 3, 3, 3]
    assert ad.read_h5ad(folder / "gtex_full.h5ad").obs["tissue"].value_counts().to_dict() == {"Blood": 11}
    assert json.loads((folder / "gtex_views.json").read_text())["inputs"]["samples"]["sha256"] == \
        hashlib.sha256(relabelled).hexdigest()
    # a file of the record's name that is not one: refused, nothing changed
    out = tmp_path / "o"
    out.mkdir()
    (out / "gtex_views.json").write_text("my notes\n")
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"rnagen: error: --out {out}: its gtex_views.json exists and is not the record of the views "
                   "rnagen writes beside them; it would be replaced: choose another path, or delete it first\n")
    assert sorted(os.listdir(out)) == ["gtex_views.json"] and (out / "gtex_views.json").read_text() == "my notes\n"
    assert converted == [1, 3, 3, 3, 3]


@pytest.mark.parametrize("held", ["folder", "view"])
def test_a_fetch_waiting_for_another_writer_of_its_views_is_refused_past_the_wait(http_server, tmp_path, gtex_files,
                                                                                 capsys, monkeypatch, held):
    """The wait for another process writing the views (the folder's lock, or one view's, which a `prepare` writing
    it as its --out holds) is bounded: past it, one line naming the process, status 2, nothing written there."""

    _serve_gtex(http_server, gtex_files)
    folder = tmp_path / "c" / "gtex"
    folder.mkdir(parents=True)
    target, kind = (folder, "dir") if held == "folder" else (folder / "gtex_full.h5ad", "file")
    with _lock_held_elsewhere(target, kind) as holder:
        monkeypatch.setattr(F, "MAX_LOCK_WAIT", 0.3)
        assert main(["data", "fetch", "gtex", "--base-url", http_server.base_url, "--cache-dir", str(tmp_path / "c"),
                     "--no-progress", "--min-samples", "1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"rnagen: {target} is being written by another rnagen process (pid {holder.pid}); waiting for it "
                   "to finish (up to 0.3 s)",
                   f"rnagen: error: {target} is still being written by another rnagen process (pid {holder.pid}) "
                   "after 0.3 s of waiting; run the same command again once it has finished, or give another --out"]
    assert not (folder / "gtex_full.h5ad").exists() and not (folder / "gtex_landmarks.h5ad").exists()
    assert sorted(n for n in os.listdir(folder) if not n.endswith(".lock")) == sorted(
        [*_GTEX_NAMES, *(n + ".download.json" for n in _GTEX_NAMES)])   # the downloads, kept for the next run
    # with --out the command's claim on the folder waits so, before anything is downloaded
    out = tmp_path / "o"
    out.mkdir()
    with _lock_held_elsewhere(out, "dir") as holder:
        requests = len(http_server.requests)
        assert main(["data", "fetch", "gtex", "--base-url", http_server.base_url, "--cache-dir",
                     str(tmp_path / "c2"), "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].startswith(f"rnagen: {out} is being written by another rnagen process (pid "
                                               f"{holder.pid}); waiting for it to finish (up to 0.3 s)")
    assert err[1] == (f"rnagen: error: {out} is still being written by another rnagen process (pid {holder.pid}) "
                      "after 0.3 s of waiting; run the same command again once it has finished, or give another --out")
    assert len(http_server.requests) == requests and not (tmp_path / "c2").exists()
    assert sorted(n for n in os.listdir(out) if n != ".rnagen.lock") == []


def test_views_linked_to_names_at_the_length_limit_are_written_and_cleaned(http_server, tmp_path, gtex_files):
    """A view that is a link to a file of a 255-byte name (the file system's limit): the view written beside the
    target, named `.{target minus .h5ad}.PID.h5ad`, and the old target kept aside while the pair is replaced were
    longer than the limit and the fetch failed; their names are shortened as rnagen's temporaries shorten theirs,
    and what a killed fetch left under them (the view, its temporary, the old view kept aside) is still told and
    removed by the next fetch."""
    import signal
    import subprocess
    import sys

    import anndata as ad

    from rnagen import _io as rio

    _serve_gtex(http_server, gtex_files)
    out, keep = tmp_path / "o", tmp_path / "keep"
    out.mkdir()
    keep.mkdir()
    names = {k: k[0] * 250 + ".h5ad" for k in ("full", "landmarks")}
    assert {len(n.encode()) for n in names.values()} == {255}
    for k, n in names.items():
        (out / f"gtex_{k}.h5ad").symlink_to(keep / n)
    code = ("import time\nfrom rnagen.data import fetch as F\n"
            "def stop(moves):\n    print('written', flush=True)\n    time.sleep(60)\n"
            "F.replace_together = stop\n"
            f"F.fetch('gtex', out_dir={str(out)!r}, cache_dir={str(tmp_path / 'c')!r}, "
            f"base_url={http_server.base_url!r}, min_samples=1, progress=False)\n")
    killed = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = killed.stdout.readline()
    finally:
        killed.send_signal(signal.SIGKILL)
        _, err = killed.communicate()
    assert line == "written\n", err
    left = sorted(n for n in os.listdir(keep) if not n.endswith(".lock"))
    assert left == sorted(F._pending_view(keep / n, killed.pid).name for n in names.values())
    assert all(len(n.encode()) <= 255 for n in left)
    dead = _dead_pid()
    # what a kill mid-write and mid-replacement leaves: the temporary atomic_path writes the view through (its name
    # carries the view's whole), an old view kept aside
    pending = F._pending_view(keep / names["full"], dead)
    assert rio._stem(pending.name) == pending.name   # atomic_path's temporary of it carries the name whole
    others = [f".{pending.name}.a1b2c3d4.tmp.h5ad", F._kept_aside(keep / names["landmarks"], dead).name]
    assert all(len(n.encode()) <= 255 for n in others)
    for name in others:
        (keep / name).write_bytes(b"partial")
    got = F.fetch("gtex", out_dir=out, cache_dir=tmp_path / "c", base_url=http_server.base_url, min_samples=1,
                  progress=False)
    assert sorted(os.listdir(keep)) == sorted(names.values())
    assert got["full"] == out / "gtex_full.h5ad" and (out / "gtex_full.h5ad").is_symlink()
    assert ad.read_h5ad(keep / names["full"]).n_obs == 13 and ad.read_h5ad(keep / names["landmarks"]).n_obs == 13
    # written again over the pair (each old view kept aside until both are in place)
    F.fetch("gtex", out_dir=out, cache_dir=tmp_path / "c", base_url=http_server.base_url, min_samples=5,
            progress=False)
    assert ad.read_h5ad(keep / names["full"]).n_obs == 11 and ad.read_h5ad(keep / names["landmarks"]).n_obs == 11
    assert sorted(os.listdir(keep)) == sorted(names.values())
    assert sorted(os.listdir(out)) == ["gtex_full.h5ad", "gtex_landmarks.h5ad", "gtex_views.json"]


def test_views_linked_crosswise_are_locked_in_one_order_by_every_fetch(tmp_path, monkeypatch):
    """Fetch A writes into a/, whose full view is a link to b/tcga_landmarks.h5ad; fetch B into b/, whose full view
    is a link to a/tcga_landmarks.h5ad: both need the locks of a/tcga_landmarks.h5ad and b/tcga_landmarks.h5ad
    (a link is locked at its target). Taken in the order of the views' names (full, then landmarks) A would hold
    b's while waiting for a's and B the reverse, each refusing the other until the wait ends; every fetch takes
    them in the order of the lock files' paths, so the one that gets the first lock gets both."""
    from rnagen import _io

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "tcga_full.h5ad").symlink_to(b / "tcga_landmarks.h5ad")
    (b / "tcga_full.h5ad").symlink_to(a / "tcga_landmarks.h5ad")
    real_lock, taken = _io.writer_lock, []

    def recording(target, *, kind="dir"):
        taken.append(_io.lock_path(target, kind=kind))
        return real_lock(target, kind=kind)

    monkeypatch.setattr(_io, "writer_lock", recording)
    orders = []
    for out in (a, b):
        taken.clear()
        with F._views_locked(out, "tcga", option="--out", inputs=[]) as dests:
            assert dests == {"full": out / "tcga_full.h5ad", "landmarks": out / "tcga_landmarks.h5ad"}
        assert taken[0] == out / _io.LOCK_NAME   # the folder's own lock first
        orders.append(taken[1:])
    want = [_io.lock_path(d / "tcga_landmarks.h5ad", kind="file") for d in (a, b)]
    assert want == sorted(want) and want[0].parent == a
    assert orders == [want, want]


def test_a_download_reaches_the_disk_before_its_final_name(http_server, tmp_path, sync_events):
    """The finished transfer is flushed to the disk before it is renamed to its cached name, and the folder after,
    so a power loss does not leave the cache naming an empty file."""
    http_server.files["blob.bin"] = BIG
    dest = tmp_path / "blob.bin"
    F.download(f"{http_server.base_url}/blob.bin", dest, progress=False)
    ino = os.stat(dest).st_ino
    at = sync_events.index(("move", ino, "blob.bin"))
    assert sync_events[at - 1] == ("sync", "file", ino)
    assert sync_events[at + 1] == ("sync", "dir", os.stat(tmp_path).st_ino)
    assert dest.read_bytes() == BIG
