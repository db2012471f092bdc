"""Files written by the real quantifiers (tests/data/tool_outputs, PROVENANCE.md there): Salmon's side folders,
one sample's file given alone, htseq-count's tables without a header line or with its gene attributes; and GEO
tables whose probe numbers read as Entrez ids, Expression Atlas's condensed SDRF of 6- and 7-field rows."""
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnagen.cli.main import main
from rnagen.data import read
from rnagen.errors import DataError

TOOLS = Path(__file__).parent / "tool_outputs"


def _htseq(name):
    df = pd.read_csv(TOOLS / name, sep="\t", header=None, index_col=0)
    return df[~df.index.str.startswith("__")].iloc[:, -1]


def test_a_salmon_folder_as_salmon_writes_it(tmp_path):
    """aux_info/ambig_info.tsv (two columns of whole numbers) read as an HTSeq table beside the quant files: every
    real Salmon folder was refused as 'files of several kinds'."""
    a = read(TOOLS / "salmon")
    assert list(a.obs_names) == ["S1", "S2"] and a.n_vars == 12
    for j, s in enumerate(("S1", "S2")):
        sf = pd.read_csv(TOOLS / "salmon" / s / "quant.genes.sf", sep="\t", index_col=0)
        np.testing.assert_allclose(a.X[j], sf.loc[a.var_names, "NumReads"].to_numpy(), rtol=1e-6)
    # in an archive too
    shutil.make_archive(str(tmp_path / "salmon"), "gztar", TOOLS, "salmon")
    b = read(tmp_path / "salmon.tar.gz")
    np.testing.assert_array_equal(a.X, b.X)


@pytest.mark.parametrize("rel, folder", [
    ("salmon/S1/quant.sf", "salmon"), ("salmon/S1/quant.genes.sf", "salmon"), ("kallisto/S1/abundance.tsv", "kallisto"),
    ("kallisto/S1/abundance.h5", "kallisto"), ("rsem/S1.genes.results", "rsem"),
    ("star/S1.ReadsPerGene.out.tab", "star")])
def test_one_samples_file_alone_is_refused_naming_the_folder(rel, folder, tmp_path, capsys):
    """Read as a matrix its columns became samples (est_counts, tpm; NumReads, TPM), STAR's strands duplicated
    sample ids, kallisto's .h5 was 'not a readable .h5ad'."""
    out = tmp_path / "x.h5ad"
    assert main(["data", "prepare", str(TOOLS / rel), "--genes", "all", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is one sample's" in err, err
    assert f"give the folder holding every sample's ({os.path.relpath(TOOLS / folder)})" in err, err
    assert not out.exists()


def test_htseq_tables_without_a_header_line_keep_their_first_gene():
    """htseq-count writes no header: the first gene's line was taken for the column names (11 of 12 genes,
    samples named by the first gene's counts)."""
    one = read(TOOLS / "htseq" / "S1.counts.txt")
    counts = _htseq("htseq/S1.counts.txt")
    assert list(one.obs_names) == ["S1"] and list(one.var_names) == list(counts.index)
    np.testing.assert_array_equal(one.X[0], counts.to_numpy())
    multi = read(TOOLS / "htseq_multi.tsv")
    df = pd.read_csv(TOOLS / "htseq_multi.tsv", sep="\t", header=None, index_col=0)
    df = df[~df.index.str.startswith("__")]
    assert list(multi.obs_names) == ["htseq_multi_1", "htseq_multi_2", "htseq_multi_3"]
    np.testing.assert_array_equal(multi.X, df.to_numpy().T)
    # the folder of the per-BAM files reads the same counts, its samples named by the files
    folder = read(TOOLS / "htseq")
    np.testing.assert_array_equal(folder.X, multi.X)
    assert list(folder.obs_names) == ["S1", "S2", "S3"]


def test_htseq_with_its_gene_attributes_between_id_and_count():
    """--additional-attr gene_name puts the name between the id and the count: the folder was 'without
    per-sample quantification files'."""
    a = read(TOOLS / "htseq_attr")
    b = read(TOOLS / "htseq")
    assert list(a.var_names) == list(b.var_names) and list(a.obs_names) == ["S1", "S2", "S3"]
    np.testing.assert_array_equal(a.X, b.X)


def test_geo_probe_numbers_are_not_taken_for_entrez_ids(tmp_path, capsys):
    """A spotted array's ID_REFs 1, 2, 3 mapped to A1BG, A2M ... (GEOparse's example family file: a mouse
    platform whose probe 1 is Nfatc2); now read as the platform's probes, --id-type entrez where they are ids."""
    lines = ["^SERIES = GSE1", "^PLATFORM = GPL5", "!platform_table_begin", "ID\tGENE_SYMBOL", "1\tNfatc2", "2\tMyc",
             "3\tTrp53", "!platform_table_end"]
    for i, gsm in enumerate(("GSM1", "GSM2", "GSM3")):
        lines += [f"^SAMPLE = {gsm}", f"!Sample_geo_accession = {gsm}", "!Sample_platform_id = GPL5",
                  f"!Sample_characteristics_ch1 = kind: {'ab'[i % 2]}", "!sample_table_begin", "ID_REF\tVALUE",
                  f"1\t{i + 0.5}", f"2\t{i + 1.5}", f"3\t{i + 2.5}", "!sample_table_end"]
    fam = tmp_path / "GSE1_family.soft"
    fam.write_text("\n".join(lines) + "\n")
    assert main(["data", "info", str(fam)]) == 0
    assert "3 probe numbers of the GEO platform (ID_REF, e.g. '1'), not Entrez ids" in capsys.readouterr().out
    assert main(["data", "prepare", str(fam), "--genes", "all", "--out", str(tmp_path / "a.h5ad")]) == 0
    assert "3 features (other IDs: not genes, no gene mapping)" in capsys.readouterr().out
    # mapped by the platform's own table, they are genes
    assert main(["data", "prepare", str(fam), "--genes", "all", "--feature-map", str(fam),
                 "--out", str(tmp_path / "b.h5ad")]) == 0
    assert "3 genes (symbol IDs)" in capsys.readouterr().out


def test_a_condensed_sdrf_of_six_and_seven_field_rows(tmp_path):
    """Atlas leaves out the ontology term where a value has none: rows of 6 and 7 fields, refused as malformed;
    any other ragged label table still is."""
    from rnagen.data import read_labels

    runs = ["SRR1", "SRR2", "SRR3", "SRR4"]
    rows = []
    for i, r in enumerate(runs):
        rows += [f"E-GEOD-1\t\t{r}\tcharacteristic\tcultivar\tRusset Burbank",
                 f"E-GEOD-1\t\t{r}\tcharacteristic\torganism\tSolanum tuberosum\thttp://purl.obolibrary.org/obo/NCBITaxon_4113",
                 f"E-GEOD-1\t\t{r}\tfactor\tphenotype\t{'resistant' if i % 2 else 'susceptible'}"]
    sdrf = tmp_path / "E-GEOD-1.condensed-sdrf.tsv"
    sdrf.write_text("\n".join(rows) + "\n")
    name, lab = read_labels(sdrf, runs)
    assert name == "phenotype" and list(lab) == ["susceptible", "resistant", "susceptible", "resistant"]
    (tmp_path / "ragged.tsv").write_text("id\tkind\nSRR1\ta\textra\tmore\nSRR2\tb\n")
    with pytest.raises(DataError, match="malformed"):
        read_labels(tmp_path / "ragged.tsv", ["SRR1", "SRR2"])


def test_an_atlas_experiment_design_labels_by_its_factor(tmp_path):
    """Atlas's ExpDesign table (Run, Sample Characteristic[...], ..., Factor Value[...]) without --label-key
    labelled by its first characteristic (one value for every run here); its factor is what the experiment
    varies."""
    from rnagen.data import read_labels

    runs = ["SRR1", "SRR2", "SRR3", "SRR4"]
    head = ['"Run"', '"Sample Characteristic[cultivar]"', '"Sample Characteristic Ontology Term[cultivar]"',
            '"Sample Characteristic[phenotype]"', '"Factor Value[phenotype]"',
            '"Factor Value Ontology Term[phenotype]"']
    rows = ["\t".join(head)] + [f'"{r}"\t"Russet Burbank"\t\t"{p}"\t"{p}"\t' for r, p in
                                zip(runs, ["dormant", "sprouting", "dormant", "sprouting"])]
    design = tmp_path / "ExpDesign-E-GEOD-1.tsv"
    design.write_text("\n".join(rows) + "\n")
    name, lab = read_labels(design, runs)
    assert name == "Factor Value[phenotype]" and list(lab) == ["dormant", "sprouting", "dormant", "sprouting"]
    key = "Sample Characteristic[cultivar]"
    assert read_labels(design, runs, label_key=key)[0] == key
    with pytest.raises(DataError, match=r"columns: Sample Characteristic\[cultivar\], Sample Characteristic Ontology "
                                        r"Term\[cultivar\], "):
        read_labels(design, runs, label_key="nope")


def test_a_merged_matrix_named_like_one_samples_file_reads(tmp_path):
    """rsem-generate-data-matrix writes to a name the user picks (all.genes.results): a matrix, read as one."""
    (tmp_path / "all.genes.results").write_text('"gene_id"\t"S1"\t"S2"\nTP53\t1\t2\nEGFR\t3\t4\nMYC\t5\t6\n')
    a = read(tmp_path / "all.genes.results")
    assert list(a.obs_names) == ["S1", "S2"] and list(a.var_names) == ["TP53", "EGFR", "MYC"]


def test_info_summarises_an_atlas_microarray_table_of_a_gene_per_probe(tmp_path, capsys):
    """Atlas's normalized-expressions file names the gene of each probe (the gene repeats): info refused it; it
    summarises it on the first of each, naming prepare's --duplicates."""
    (tmp_path / "E-GEOD-1_A-AFFY-33-normalized-expressions.tsv").write_text(
        "Gene ID\tGene Name\tDesignElementAccession\tS1\tS2\tS3\n"
        "ENSG00000000003\tTSPAN6\t209108_at\t6.97\t7.12\t7.48\n"
        "ENSG00000000003\tTSPAN6\t209109_s_at\t6.63\t6.65\t6.87\n"
        "ENSG00000000005\tTNMD\t220029_at\t5.10\t5.20\t5.30\n")
    assert main(["data", "info", str(tmp_path / "E-GEOD-1_A-AFFY-33-normalized-expressions.tsv")]) == 0
    out = capsys.readouterr().out
    assert "samples:   3" in out and "duplicates: 1 repeated gene id, summarised on the first of each" in out


def test_columns_named_by_alignment_files_name_their_samples():
    """htseq-count --with-header names its columns by the BAM files: samples 'S1.bam' (featureCounts' are named
    without the extension); the files kept in obs['file']."""
    a = read(TOOLS / "htseq_multi_hdr.tsv")
    b = read(TOOLS / "htseq_multi.tsv")
    assert list(a.obs_names) == ["S1", "S2", "S3"] and a.obs["file"].tolist() == ["S1.bam", "S2.bam", "S3.bam"]
    np.testing.assert_array_equal(a.X, b.X)
