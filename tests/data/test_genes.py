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


@pytest.mark.parametrize("ids", [["sample_1", "foo bar", "%%"], ["chr1:100-200", "chr2:5-9", "chr3:1-2"],
                                 ["hsa-let-7a-5p", "hsa-miR-21-5p", "hsa-mir-155"], ["cg00000029", "cg00000108"],
                                 ["P04637", "P00533", "Q9Y6K9"], ["ILMN_1343291", "1007_s_at", "AFFX-BioB-5_at"]])
def test_features_that_are_not_genes_are_other(ids):
    assert g.detect_id_type(ids) == "other"
    with pytest.raises(DataError, match="needs gene identifiers .*--genes all"):
        g.map_ids(ids, to="entrez")
    with pytest.raises(DataError, match="--genes all"):
        g.find_landmarks(ids)
    assert g.same_gene_groups(ids) == []


def test_no_ids_is_a_data_error():
    with pytest.raises(DataError, match="no feature identifiers"):
        g.detect_id_type([])


def test_mixed_ensembl_and_symbols_map_each_id_by_its_own_type():
    ids = ["ENSG00000141510.16", "EGFR", "MYC", "ENSG00000146648", "NOTAGENE", "ENSG00000000003"]
    assert g.detect_id_type(ids) == "mixed"
    mapped, rep = g.map_ids(ids, to="entrez")
    assert mapped == ["7157", "1956", "4609", "1956", None, "7105"] and rep.n_mapped == 5
    idx, _ = g.find_landmarks(ids)
    # EGFR: the first of its two ids; TSPAN6 (ENSG00000000003) is a landmark too
    assert sorted(ids[i] for i in idx) == ["EGFR", "ENSG00000000003", "ENSG00000141510.16", "MYC"]
    # a symbol matrix with a few Ensembl IDs stays "symbol" and keeps them
    ids2 = ["TP53", "MYC", "GAPDH", "KRAS", "BRCA1", "PTEN", "AKT1", "SOX2", "JUN", "FOS", "EGR1", "ENSG00000146648"]
    assert g.detect_id_type(ids2) == "symbol"
    assert g.to_entrez(ids2)[-1] == "1956"


def test_same_gene_groups_case_aliases_versions():
    ids = ["TP53", "EGFR", "tp53", "ENSG00000146648.3", "TOMM70A", "TOMM70", "hsa-miR-1"]
    assert g.same_gene_groups(ids) == [[0, 2], [1, 3], [4, 5]]


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


def test_gene_mapping_lives_below_data_and_pp():
    """``rnagen.data.genes`` is the public face of ``rnagen._genes``, which maps IDs without importing the
    readers (``rnagen.data``) or the transforms (``rnagen.pp``)."""
    import subprocess
    import sys

    import rnagen._genes as low

    assert g.map_ids is low.map_ids and g.__all__ == low.__all__
    code = ("import sys, rnagen._genes as g; ids, rep = g.map_ids(['TP53', 'ENSG00000141510'], to='entrez'); "
            "print(ids, sorted(m for m in sys.modules if m.split('.')[:2] in (['rnagen', 'data'], ['rnagen', 'pp'])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['7157', '7157'] []"


def test_spreadsheet_dates_among_gene_symbols():
    """Symbols a spreadsheet read as dates (Ziemann et al. 2016) get their names back; 1-Mar and 2-Mar, each the
    date of two genes, are reported as such; dates among ids that are not gene symbols are left alone."""
    ids = ["TP53", "EGFR", "MYC", "1-Sep", "01-Sep", "15-Sep", "1-Mar", "4-Mar", "1-Dec", "2024-09-07 00:00:00",
           "14-Sept", "3-Oct", "2-Mar-2020"]
    restored, ambiguous = g.spreadsheet_dates(ids)
    assert restored == {3: "SEPT1", 4: "SEPT1", 5: "SELENOF", 7: "MARCH4", 8: "DEC1", 9: "SEPT7", 10: "SEPT14"}
    assert ambiguous == {6: ("MARCH1", "MARC1"), 12: ("MARCH2", "MARC2")}
    assert 11 not in restored and 11 not in ambiguous  # 3-Oct: no gene becomes that date
    assert g.spreadsheet_dates(["hsa-miR-21-5p", "hsa-let-7a-5p", "1-Sep"]) == ({}, {})
    assert g.spreadsheet_dates(["sample_a", "sample_b", "1-Sep"]) == ({}, {})
    assert g.spreadsheet_dates(["1-Sep", "2-Sep"]) == ({}, {})  # nothing but dates: not a list of genes
    assert g.spreadsheet_dates(["TP53", "Sep-01"]) == ({}, {})  # month-year, not a day


def test_symbols_r_rewrote_map():
    """R's make.names turns HLA-DRA (a landmark) into HLA.DRA: it still maps; a symbol with a dot matching
    nothing stays unmapped."""
    mapped, rep = g.map_ids(["HLA.DRA", "HLA.DMA", "TP53", "NOT.A.GENE"], to="symbol")
    assert mapped == ["HLA-DRA", "HLA-DMA", "TP53", None]
    idx, _ = g.find_landmarks(["HLA.DRA", "HLA.DMA", "TP53"])
    assert len(idx) == 3  # all three are landmarks


def test_current_hgnc_symbols_of_date_prone_genes_map():
    """HGNC's 2020 symbols (SEPTIN7, MARCHF6, MTARC1) and the old SEP15 map to the shipped tables' genes."""
    mapped, rep = g.map_ids(["SEPTIN7", "MARCHF6", "MTARC1", "SEP15", "SEPT7", "TP53"], to="entrez")
    assert mapped[0] == mapped[4] and mapped[0] is not None
    assert None not in mapped and rep.n_mapped == 6
    sym, _ = g.map_ids(["SEPTIN7", "MARCHF6", "MTARC1", "SEP15"], to="symbol")
    assert sym == ["SEPT7", "MARCH6", "MARC1", "SELENOF"]


def test_current_symbols_of_renamed_landmarks_map():
    """A table named with current HGNC symbols (H2BC21, EPRS1, BLTP2 ...) keeps all 978 landmarks, 25 of them
    through NCBI Gene's 2022 symbols; a newer symbol that is another shipped gene's (SMN1) stays that gene's."""
    from rnagen import datasets

    lm = datasets.landmarks()
    new = datasets.renamed_symbols().set_index("entrez_id")["symbol_ncbi_2022"]
    current = [new.get(e, s) for e, s in zip(lm["entrez_id"], lm["symbol"])]
    assert sum(a != b for a, b in zip(current, lm["symbol"])) == 25
    idx, rep = g.find_landmarks(current)
    assert len(idx) == 978 and rep.landmarks_missing == [] and rep.n_mapped == 978
    assert g.detect_id_type(current) == "symbol"
    mapped, _ = g.map_ids(["H2BC21", "eprs1", "HIST2H2BE"], to="entrez")
    assert mapped == ["8349", "2058", "8349"]
    sym, _ = g.map_ids(["H2BC21", "CEMIP2", "SMN1", "LGALS7"], to="symbol")
    assert sym == ["HIST2H2BE", "TMEM2", "SMN1", "LGALS7"]  # SMN1 stays SMN1, not SMN2 under its newer name


def test_microarray_probes_are_pointed_at_the_platform_annotation():
    """Landmark selection on probe ids (a GEO GDS of Affymetrix probes) names --feature-map with the platform's
    annotation; on other non-gene features (miRNAs) it names --genes all alone."""
    probes = ["200000_s_at", "200001_at", "AFFX-BioB-5_at", "ILMN_1343291", "A_23_P100001"]
    assert g.looks_like_probes(probes) and not g.looks_like_probes(["hsa-miR-21-5p", "TP53", "200000_s_at"])
    with pytest.raises(DataError, match=r"microarray probes: --feature-map with the platform's annotation maps them "
                                        r"to genes \(GEO's GPLxxx.annot.gz"):
        g.require_gene_ids(probes, id_type="other", what="landmark selection")
    with pytest.raises(DataError, match=r"\(e.g. 'hsa-miR-21-5p', 'hsa-let-7a-5p'\); use --genes all or a list"):
        g.require_gene_ids(["hsa-miR-21-5p", "hsa-let-7a-5p"], id_type="other")


def test_other_species_named():
    """Another species' Ensembl ids or mouse/rat-case symbols are recognised (the tables are human); human ids,
    including symbols with lower-case parts (C1orf43), are not."""
    assert g.other_species([f"ENSMUSG{i:011d}" for i in range(10)]) == "mouse"
    assert g.other_species([f"ENSRNOG{i:011d}.2" for i in range(10)]) == "rat"
    assert g.other_species(["Gapdh", "Trp53", "Cd4", "H2-K1", "TP53"]) == "mouse or rat"
    assert g.other_species(["GAPDH", "TP53", "C1orf43", "ENSG00000141510"]) is None
    assert g.other_species(["hsa-miR-21-5p", "hsa-let-7a-5p"]) is None


def test_paralogs_sharing_an_entrez_id_are_told_apart():
    """The GTEx v8 universe gives some Entrez IDs to two genes (HLA-DQA1 / HLA-DQA2 under 3117, ...): no ID of
    the table is shared, and matching across ID types finds each paralog's own column, not the first of the pair."""
    from rnagen import _genes
    from rnagen.pp import select_genes

    t = _genes.gene_table()
    e = t["entrez_id"]
    assert not (e.notna() & (e.astype(str) != "") & e.duplicated(keep=False)).any()
    var = ["ENSG00000196735.5", "ENSG00000237541.5", "ENSG00000172062.16", "ENSG00000205571.12", "ENSG00000141510"]
    assert _genes.match_genes(["HLA-DQA2", "SMN2", "HLA-DQA1", "TP53"], var) == [1, 3, 0, 4]
    import anndata as ad
    import numpy as np

    a = ad.AnnData(np.arange(15, dtype=np.float32).reshape(3, 5))
    a.var_names = var
    out = select_genes(a, ["HLA-DQA2", "SMN1"])
    assert out.var_names.tolist() == ["ENSG00000237541.5", "ENSG00000172062.16"]
    np.testing.assert_array_equal(out.X, a.X[:, [1, 2]])


def test_ensembl_ids_in_lower_case_map():
    """Ensembl IDs lower-cased on the way (ensg00000141510.16) map as upper-case ones do (symbols are matched in
    any case): they were refused as features that are not genes."""
    assert g.detect_id_type(["ensg00000141510.16", "ensg00000111640.14"]) == "ensembl_versioned"
    ids, _ = g.map_ids(["ensg00000141510.16", "ENSG00000111640", "ensg00000182054"], to="symbol")
    assert ids == ["TP53", "GAPDH", "IDH2"]


def test_a_par_y_suffix_in_any_case_is_kept(tmp_path):
    """A lower-case '_par_y' (a table lower-cased on the way) was stripped with the version: the chromosome Y copy
    became its gene, and --duplicates mean averaged a landmark's values with the copy's zeros."""
    import anndata as ad

    from rnagen.cli.main import main

    assert g.strip_version("ensg00000182378.13_par_y") == "ensg00000182378_par_y"
    assert g.strip_version("ENSG00000182378.13_Par_Y") == "ENSG00000182378_Par_Y"
    ens = g.gene_table().query("is_landmark").ensembl_id.tolist()
    rows = [f"{e.lower()}.1\t" + "\t".join(["5.0"] * 6) for e in ens]
    rows.append(f"{ens[0].lower()}.1_par_y\t" + "\t".join(["0.0"] * 6))
    (tmp_path / "x.tsv").write_text("gene\t" + "\t".join(f"S{i}" for i in range(6)) + "\n" + "\n".join(rows) + "\n")
    (tmp_path / "lab.tsv").write_text("sample\ttissue\n" + "".join(f"S{i}\t{'ab'[i % 2]}\n" for i in range(6)))
    assert main(["data", "prepare", str(tmp_path / "x.tsv"), "--labels", str(tmp_path / "lab.tsv"), "--label-key",
                 "tissue", "--log", "none", "--duplicates", "mean", "--out", str(tmp_path / "p.h5ad")]) == 0
    a = ad.read_h5ad(tmp_path / "p.h5ad")
    assert a.n_vars == len(ens) and (a.X == 5.0).all()


def test_a_dot_in_a_name_other_than_an_ensembl_id_is_part_of_it():
    """``RP11-34P13.3`` and ``RP11-34P13.7`` are two genes (GENCODE clone-based names), as are ``AC000061.1`` and
    ``AC000061.2``; only an Ensembl ID's version is dropped to match."""
    from rnagen import _genes

    var = ["TP53", "RP11-34P13.7", "AC000061.2", "ENSG00000141510.16"]
    assert _genes.match_genes(["RP11-34P13.3", "AC000061.1", "TP53", "RP11-34P13.7"], var) == [None, None, 0, 1]
    assert _genes.match_genes(["ENSG00000141510.11", "ENSG00000141510"], var) == [3, 3]


def test_an_unversioned_ensembl_id_against_two_versions_of_it_is_refused():
    """Features holding two versions of one Ensembl ID (files of two GENCODE releases merged) make an unversioned
    request ambiguous: asked for one column per gene, the first was taken silently; now refused naming both columns
    and the versioned ID to give. A versioned request takes its own column; the chromosome Y copy (``_PAR_Y``) is
    another row than its gene's, so it adds no ambiguity; Ensembl IDs match in any case."""
    from rnagen import _genes

    var = ["ENSG00000141510.16", "ENSG00000141510.17", "ENSG00000299990.1", "ENSG00000299990.2",
           "ENSG00000002586.18", "ENSG00000002586.18_PAR_Y"]
    assert _genes.match_genes(["ENSG00000141510", "ENSG00000299990"], var) == [0, 2]   # unique=False: the first
    for req in ("ENSG00000141510", "ENSG00000299990", "ENSG00000299990.3", "ensg00000299990", "TP53"):
        with pytest.raises(DataError, match=r"matches 2 versions of one Ensembl id in the data \('ENSG000002999"
                                            r"90.1' and 'ENSG00000299990.2'\).*give the versioned id \(e.g. "
                                            r"'ENSG00000299990.2'\) or drop one of the columns"
                           if "2999" in req else r"\('ENSG00000141510.16' and 'ENSG00000141510.17'\)"):
            _genes.match_genes([req], var, unique=True)
    assert _genes.match_genes(["ENSG00000141510.17", "ENSG00000299990.1", "ENSG00000002586", "CD99",
                               "ENSG00000002586_PAR_Y", "ensg00000002586.18_par_y"], var,
                              unique=True) == [1, 2, 4, 4, 5, 5]
    # the versions of a gene the tables do not know are one gene too, the chromosome Y copy another
    assert g.same_gene_groups(var) == [[0, 1], [2, 3]]


def test_a_gene_list_against_two_versions_of_a_gene_the_tables_do_not_know():
    """Prepare's --genes list and its duplicates check: two versions of a lncRNA's Ensembl ID (not in the shipped
    tables) passed the check and an unversioned list entry took the first; now refused as two versions of a known
    gene are, and --duplicates first|mean merges them (the documented merge of same-gene columns)."""
    import anndata as ad
    import numpy as np

    from rnagen.pp import select_genes

    var = ["ENSG00000141510.16", "ENSG00000299990.1", "ENSG00000299990.2", "ENSG00000111640.14"]
    a = ad.AnnData(np.arange(12, dtype=np.float32).reshape(3, 4) + 1)
    a.var_names = var
    with pytest.raises(DataError, match=r"'ENSG00000299990.1' and 'ENSG00000299990.2' are the same gene.*"
                                        r"--duplicates first\|mean\|sum"):
        select_genes(a, ["ENSG00000299990", "TP53"])
    out = select_genes(a, ["ENSG00000299990", "TP53"], duplicates="mean")
    assert out.var_names.tolist() == ["ENSG00000299990.1", "ENSG00000141510.16"]
    np.testing.assert_allclose(out.X[:, 0], a.X[:, 1:3].mean(axis=1))


def test_ids_with_spaces_around_them_match():
    """Ids padded with spaces (a list typed by hand, a spreadsheet's cell) in a Python list, or in the data's names
    (an .h5ad keeps them), match their genes, in prepare's selection and wherever one gene is matched."""
    import anndata as ad
    import numpy as np

    from rnagen import _genes
    from rnagen.pp import select_genes

    a = ad.AnnData(np.arange(9, dtype=np.float32).reshape(3, 3) + 1)
    a.var_names = ["TP53", "GAPDH", "EGFR"]
    out = select_genes(a, [" EGFR", "TP53 ", "\tgapdh"])
    assert out.var_names.tolist() == ["EGFR", "TP53", "GAPDH"]
    assert _genes.match_genes([" EGFR", "TP53 ", "gapdh "], ["TP53", "GAPDH ", "EGFR"], unique=True) == [2, 0, 1]
