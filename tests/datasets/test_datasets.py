"""Shipped data: the landmark table, the GTEx v8 universe and the GTEx 26-tissue subset."""
import numpy as np
import pandas as pd

from rnagen import datasets
from rnagen.pp import get_history, log_state


def test_landmarks_978_unique_ids():
    lm = datasets.landmarks()
    assert lm.shape[0] == 978
    for col in ("entrez_id", "symbol", "ensembl_id"):
        assert lm[col].notna().all() and lm[col].nunique() == 978, col
    assert lm["ensembl_id"].str.match(r"^ENSG\d{11}$").all()
    assert lm["entrez_id"].str.match(r"^\d+$").all()
    # spot values from the source table (PROVENANCE.md): hand-filled Ensembl IDs of 4 landmarks
    row = lm.set_index("symbol").loc[["RBM15B", "PIP4K2B", "DUSP14", "IKBKE"]]
    assert row["ensembl_id"].tolist() == ["ENSG00000259956", "ENSG00000276293", "ENSG00000276023", "ENSG00000263528"]
    assert row["entrez_id"].tolist() == ["29890", "8396", "11072", "9641"]
    lm.loc[0, "symbol"] = "changed"  # a copy: the cached table is untouched
    assert datasets.landmarks().loc[0, "symbol"] != "changed"


def test_gene_universe_18691_protein_coding():
    u = datasets.gene_universe()
    assert u.shape[0] == 18691 and u["ensembl_id"].nunique() == 18691
    assert (u["gene_biotype"] == "protein_coding").sum() == 18647  # a few pseudogene biotypes, as shipped
    assert u["type"].value_counts().to_dict() == {"target": 17717, "landmark": 974}
    lm = set(datasets.landmarks()["ensembl_id"])
    assert len(lm & set(u["ensembl_id"])) == 974


def test_gtex26_shape_labels_and_log_state():
    a = datasets.gtex26()
    assert a.shape == (520, 467) and a.X.dtype == np.float32
    assert isinstance(a.obs["tissue"].dtype, pd.CategoricalDtype)
    vc = a.obs["tissue"].value_counts()
    assert len(vc) == 26 and (vc == 20).all()
    assert list(a.var.columns) == ["symbol", "ensembl_id", "is_landmark"]
    assert a.var_names[0] == "9496" and a.var["symbol"].iloc[0] == "TBX4"
    assert int(a.var["is_landmark"].sum()) == 20
    # values as documented in PROVENANCE.md: min 0, max 12.85, median 0.49
    assert float(a.X.min()) == 0.0 and abs(float(a.X.max()) - 12.85) < 0.01
    assert abs(float(np.median(a.X)) - 0.49) < 0.01
    st = log_state(a)
    assert st["logged"] and st["transform"] == "log2(RPKM+1) (as shipped)"
    assert get_history(a)[0]["step"] == "datasets.gtex26"


def test_provenance_is_shipped():
    assert "SEPIRA" in datasets.provenance("gtex26")
    assert "978 unique Entrez IDs" in datasets.provenance("landmarks")
    assert datasets.path("gtex26", "samples.csv").is_file()


def test_packaged_files_match_recorded_checksums():
    import gzip
    import hashlib

    table = datasets.path("PACKAGING.md").read_text(encoding="utf-8")
    rows = [r.strip("|").split("|") for r in table.splitlines() if r.startswith("| ") and "sha256" not in r]
    assert len(rows) == 7
    for packaged, _, sha in (map(str.strip, r) for r in rows):
        data = datasets.path(*packaged.split("/")).read_bytes()
        if packaged.endswith("_18691.csv.gz"):
            data = gzip.decompress(data)
        assert hashlib.sha256(data).hexdigest() == sha, packaged


def test_renamed_symbols_table():
    """NCBI Gene's 2022 symbols of renamed shipped genes: 694 genes, 25 landmarks; no newer symbol is a shipped
    symbol or shared by two genes; the file is the one PACKAGING.md records."""
    import hashlib

    r = datasets.renamed_symbols()
    assert list(r.columns) == ["entrez_id", "symbol", "symbol_ncbi_2022"] and len(r) == 694
    lm = datasets.landmarks()
    assert r["entrez_id"].isin(lm["entrez_id"]).sum() == 25
    shipped = set(lm["symbol"].str.upper()) | set(datasets.gene_universe()["symbol"].str.upper())
    assert not r["symbol_ncbi_2022"].str.upper().isin(shipped).any()
    assert r["symbol_ncbi_2022"].str.upper().is_unique and r["entrez_id"].is_unique
    row = r.set_index("symbol")["symbol_ncbi_2022"]
    assert row["HIST2H2BE"] == "H2BC21" and row["EPRS"] == "EPRS1" and row["KIAA0100"] == "BLTP2"
    sha = hashlib.sha256(datasets.path("landmarks", "symbols_ncbi_2022.csv").read_bytes()).hexdigest()
    assert sha in datasets.path("PACKAGING.md").read_text(encoding="utf-8")
