"""R's own files (saveRDS, save) read as tables: matrices, data frames and factors through pyreadr; R containers
it cannot read named with the R line that writes their matrix. The files are written by r_files/make_r_files.R."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rnagen.data import read
from rnagen.errors import DataError
from rnagen.pp import get_history

R = Path(__file__).parent / "r_files"
GENES = ["PSME1", "CISD1", "SPDEF", "IKZF1", "TP53", "EGFR", "MYC", "GAPDH"]
SAMPLES = [f"S{j}" for j in range(1, 7)]
# counts[i, j] = 10 * i + j (1-based, genes x samples), as make_r_files.R writes it; here samples x genes
COUNTS = np.array([[10 * i + j for i in range(1, 9)] for j in range(1, 7)], dtype=np.float32)


@pytest.mark.parametrize("name", ["counts.rds", "counts_xz.rds", "counts_plain.rds", "gene_column.rds"])
def test_r_matrix_and_data_frame(name):
    """An integer matrix with dimnames (gzip, xz or uncompressed) and a data frame with a gene column read as
    the genes x samples table they are."""
    a = read(R / name)
    assert list(a.obs_names) == SAMPLES and list(a.var_names) == GENES
    np.testing.assert_array_equal(a.X, COUNTS)
    assert get_history(a)[0]["format"] == "rds"


def test_r_samples_as_rows_missing_values_and_names(tmp_path):
    t = read(R / "samples_x_genes.rds")
    assert list(t.obs_names) == SAMPLES and list(t.var_names) == GENES
    np.testing.assert_array_equal(t.X, COUNTS + 0.5)
    # an integer column holding NA: numbers with one missing value, not "non-numeric"
    with pytest.raises(DataError, match=r"counts_na.rds: 1 NaN .* \(first at sample 'S3', gene 'CISD1'\)"):
        read(R / "counts_na.rds")
    na = read(R / "counts_na.rds", missing="keep")
    want = COUNTS.copy()
    want[2, 1] = np.nan
    np.testing.assert_array_equal(na.X, want)
    with pytest.raises(DataError, match=r"no_names.rds: an R matrix without row or column names.*rownames\(m\)"):
        read(R / "no_names.rds")
    # known by content, whatever the name
    shutil.copy(R / "counts.rds", tmp_path / "counts.txt")
    np.testing.assert_array_equal(read(tmp_path / "counts.txt").X, COUNTS)


def test_r_labels_and_workspaces():
    """Labels from a colData-like data frame (row names = samples), a factor in sample order, or the one sample
    table of a workspace; a workspace of one numeric table reads it, of two needs --object."""
    a = read(R / "counts.rds", labels=R / "coldata.rds", label_key="condition")
    assert a.obs["condition"].tolist() == ["tumour", "normal"] * 3
    b = read(R / "counts.rds", labels=R / "coldata.rds", label_key="batch")
    assert b.obs["batch"].tolist() == ["1", "1", "2", "2", "3", "3"]    # R's doubles, printed as R prints them
    c = read(R / "counts.rds", labels=R / "condition.rds")
    assert c.obs["label"].tolist() == ["tumour", "normal"] * 3
    w = read(R / "workspace.RData", labels=R / "workspace.RData", label_key="condition")
    np.testing.assert_array_equal(w.X, COUNTS)
    assert w.obs["condition"].tolist() == ["tumour", "normal"] * 3 and get_history(w)[0]["format"] == "rdata"
    with pytest.raises(DataError, match=r"two_tables.RData: 2 tables \('counts', 'tpm'\); choose one with --object"):
        read(R / "two_tables.RData")
    t = read(R / "two_tables.RData", sheet="tpm")
    np.testing.assert_array_equal(t.X, COUNTS / 2)
    assert get_history(t)[0]["object"] == "tpm"
    with pytest.raises(DataError, match=r"has no object 'fpkm'; its tables: 'counts', 'tpm'"):
        read(R / "two_tables.RData", sheet="fpkm")
    with pytest.raises(DataError, match="an .rds holds one object: remove --object"):
        read(R / "counts.rds", sheet="counts")
    with pytest.raises(DataError, match="label file two_tables.RData: 2 tables"):
        read(R / "counts.rds", labels=R / "two_tables.RData")


@pytest.mark.parametrize("name, msg", [
    ("summarized_experiment.rds", r"an R SummarizedExperiment object, not a matrix or data frame; in R, x <- "
                                  r"readRDS\(\"summarized_experiment.rds\"\); write.csv\(SummarizedExperiment::assay"),
    ("dgelist.rds", r"an R DGEList object.*write.csv\(x\$counts, \"counts.csv\"\)"),
    ("dds_workspace.RData", r"an R DESeqDataSet object.* load\(\"dds_workspace.RData\"\), x being the object; "
                            r"write.csv\(DESeq2::counts\(x\)"),
    ("counts_ascii.rds", r"saved in R's text form \(ascii = TRUE\).*saveRDS\(x, file\)"),
])
def test_r_objects_not_read_are_named(name, msg):
    with pytest.raises(DataError, match=msg):
        read(R / name)


def test_r_file_cli(tmp_path, capsys):
    from rnagen.cli.main import main

    out = tmp_path / "p.h5ad"
    assert main(["data", "prepare", str(R / "workspace.RData"), "--labels", str(R / "workspace.RData"),
                 "--label-key", "condition", "--genes", "all", "--out", str(out)]) == 0
    assert "2 classes of 'condition'" in capsys.readouterr().out
    assert main(["data", "prepare", str(R / "two_tables.RData"), "--object", "tpm", "--genes", "all", "--out",
                 str(tmp_path / "t.h5ad")]) == 0
    assert main(["data", "prepare", str(R / "summarized_experiment.rds"), "--out", str(tmp_path / "s.h5ad")]) == 2
    err = capsys.readouterr().err
    assert "SummarizedExperiment" in err and "Traceback" not in err and not (tmp_path / "s.h5ad").exists()


def test_r_tables_that_are_no_expression_matrix_are_refused():
    """A table without row names is refused (Biobase's swrep.rda, whose row names are the numbers as text, was
    read as 3 samples x 8,448 'Entrez genes': tests/data/test_io.py has that case); a table of sample annotations
    was read as 1 sample of its ids, a package index naming classes as text as an ExpressionSet, and R's native
    binary form was blamed on damage."""
    with pytest.raises(DataError, match=r"spots.rds: an R table without row names"):
        read(R / "spots.rds")
    with pytest.raises(DataError, match=r"sample_table.rds: a table of sample annotations .*'score', beside 2 text "
                                        r"columns: sex, type.*--labels"):
        read(R / "sample_table.rds")
    a = read(R / "counts.rds", labels=R / "sample_table.rds", label_key="type")   # as labels it is what it is
    assert a.obs["type"].tolist() == ["Case"] * 3 + ["Control"] * 3
    with pytest.raises(DataError, match=r"index.rds: an R object that is not a matrix, data frame or factor"):
        read(R / "index.rds")
    with pytest.raises(DataError, match=r"counts_native.rds: saved in R's native binary form .*saveRDS\(x, file\)"):
        read(R / "counts_native.rds")
    with pytest.raises(DataError, match=r"summarized_experiment.rds: an R SummarizedExperiment object.*assay\(x, 1\)"):
        read(R / "summarized_experiment.rds")
