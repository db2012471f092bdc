"""Gene identifier detection and mapping with the shipped tables."""
import pytest

from rnagen import datasets
from rnagen.data import genes as g
from rnagen.errors import DataError


def test_detect_id_types():
    lm = datasets.landmarks()
    assert g.detect_id_type(lm["symbol"]) == "symbol"
    assert g.detect_id_type(lm["entrez_id"]) == "entrez"
    assert g.detect_id_type(lm["ensembl_id"]) == "ensembl"
    assert g.detect_id_type(lm["ensembl_id_versioned_gtex_v8"].dropna()) == "ensembl_versioned"
    assert g.detect_id_type(["ENSG00000141510.16", "ENSG00000182378.13_PAR_Y"]) == "ensembl_versioned"


@pytest.mark.parametrize("ids", [["sample_1", "foo bar", "%%"], ["chr1:100-200", "chr2:5-9", "chr3:1-2"], []])
def test_unrecognised_ids_are_a_data_error(ids):
    with pytest.raises(DataError, match="gene identifier|no gene identifiers"):
        g.detect_id_type(ids)


def test_map_between_types_and_report():
    mapped, rep = g.map_ids(["TP53", "tomm70a", "EGFR", "NOTAGENE"], to="entrez")
    assert mapped == ["7157", "9868", "1956", None]  # TOMM70A: 2017 CMap alias of TOMM70, case-insensitive
    assert rep.n_total == 4 and rep.n_mapped == 3 and rep.unmapped == ["NOTAGENE"]
    assert rep.landmarks_found == 3 and len(rep.landmarks_missing) == 975  # all three are landmarks
    ens, _ = g.map_ids(["7157", "1956"], to="ensembl")
    assert ens == ["ENSG00000141510", "ENSG00000146648"]
    sym, rep = g.map_ids(["ENSG00000141510.16", "ENSG00000146648.15"], to="symbol")
    assert sym == ["TP53", "EGFR"] and rep.id_type == "ensembl_versioned"


def test_landmarks_found_in_gtex_universe_reports_the_four_missing():
    u = datasets.gene_universe()
    for col in ("ensembl_id", "symbol", "entrez_id"):
        idx, rep = g.find_landmarks(u[col].dropna().tolist())
        assert len(idx) == 974, col
        assert sorted(rep.landmarks_missing) == ["DUSP14", "IKBKE", "PIP4K2B", "RBM15B"]
        assert "974/978 landmarks present" in rep.summary()


def test_strip_version():
    assert g.strip_version("ENSG00000141510.16") == "ENSG00000141510"
    assert g.strip_version("ENSG00000182378.13_PAR_Y") == "ENSG00000182378_PAR_Y"
    assert g.strip_version("ENSG00000141510") == "ENSG00000141510"
