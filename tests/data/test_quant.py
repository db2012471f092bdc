"""A folder of per-sample quantification files (STAR, GDC, RSEM, Salmon, HTSeq-count) read as one matrix,
each kind written here in its tool's layout."""
from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

from rnagen.cli.main import main
from rnagen.data import read
from rnagen.data.quant import read_quant_folder
from rnagen.errors import DataError
from rnagen.pp import get_history

GENES = ["ENSG00000092010.15", "ENSG00000122873.12", "ENSG00000124664.11", "ENSG00000000003.15"]


def _star(path, unstranded, first, second):
    rows = ["N_unmapped\t1000\t1000\t1000", "N_multimapping\t500\t500\t500", "N_noFeature\t80\t9000\t9100",
            "N_ambiguous\t300\t2\t3"]
    rows += [f"{g}\t{u}\t{f}\t{s}" for g, u, f, s in zip(GENES, unstranded, first, second)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")


def test_star_folder_strandedness(tmp_path):
    """STAR's three count columns: a reverse-stranded library's reads sit in the fourth column, and auto takes it
    when every sample agrees; samples are named by their files less STAR's suffix."""
    rng = np.random.default_rng(0)
    truth = {}
    for s in ("S1", "S2", "S3"):
        c = rng.integers(50, 500, size=len(GENES))
        truth[s] = c
        _star(tmp_path / "star" / f"{s}_ReadsPerGene.out.tab", c + 3, c // 40, c)  # reverse-stranded
    (tmp_path / "star" / "S1_Log.final.out").write_text("Started job on |\tDec 01\n")  # not a counts file
    (tmp_path / "star" / "S1_Aligned.sortedByCoord.out.bam").write_bytes(b"BAM\x01")
    a = read(tmp_path / "star")
    assert list(a.obs_names) == ["S1", "S2", "S3"] and list(a.var_names) == GENES  # the N_ rows dropped
    np.testing.assert_array_equal(a.X, np.vstack([truth[s] for s in ("S1", "S2", "S3")]))
    h = get_history(a)[0]
    assert h["format"] == "folder" and h["quant_kind"] == "star" and h["quant_strand"] == "reverse"
    assert a.obs["file"].tolist() == ["S1_ReadsPerGene.out.tab", "S2_ReadsPerGene.out.tab",
                                      "S3_ReadsPerGene.out.tab"]
    b, info = read_quant_folder(tmp_path / "star", strand="unstranded")
    np.testing.assert_array_equal(b.X, a.X + 3)
    assert info["column"] == "unstranded" and info["n_files"] == 3
    # a library of another strandedness among them: auto refuses, a named column reads
    c = truth["S1"]
    _star(tmp_path / "star" / "S4_ReadsPerGene.out.tab", c, c // 2, c // 2)
    with pytest.raises(DataError, match="do not look equally stranded .*S4_ReadsPerGene.out.tab unstranded"):
        read(tmp_path / "star")
    assert read(tmp_path / "star", strand="reverse").n_obs == 4
    # an unstranded library set reads the unstranded column
    for s in ("U1", "U2"):
        _star(tmp_path / "unstr" / s / "ReadsPerGene.out.tab", c, c // 2, c // 2 + 1)  # named by its folder
    u = read(tmp_path / "unstr")
    assert list(u.obs_names) == ["U1", "U2"] and u.obs["file"].tolist() == ["U1/ReadsPerGene.out.tab",
                                                                           "U2/ReadsPerGene.out.tab"]
    np.testing.assert_array_equal(u.X[0], c)


def test_gdc_rsem_salmon_htseq_folders(tmp_path, capsys):
    counts = np.array([[12, 0, 7, 300], [40, 5, 9, 150]])
    tpm = np.array([[10.5, 0.0, 2.25, 87.25], [20.0, 1.5, 3.5, 75.0]])
    # GDC's augmented STAR counts (unstranded TCGA libraries)
    for i, uuid in enumerate(["0a1b", "2c3d"]):
        lines = ["# gene-model: GENCODE v36",
                 "gene_id\tgene_name\tgene_type\tunstranded\tstranded_first\tstranded_second\ttpm_unstranded\t"
                 "fpkm_unstranded\tfpkm_uq_unstranded",
                 "N_unmapped\t\t\t100\t100\t100\t\t\t", "N_multimapping\t\t\t20\t20\t20\t\t\t",
                 "N_noFeature\t\t\t30\t900\t910\t\t\t", "N_ambiguous\t\t\t4\t1\t1\t\t\t"]
        lines += [f"{g}\tG{j}\tprotein_coding\t{counts[i, j]}\t{counts[i, j] // 2}\t{counts[i, j] // 2}\t"
                  f"{tpm[i, j]}\t1.0\t1.0" for j, g in enumerate(GENES)]
        d = tmp_path / "gdc" / uuid
        d.mkdir(parents=True)
        (d / f"{uuid}.rna_seq.augmented_star_gene_counts.tsv").write_text("\n".join(lines) + "\n")
    g = read(tmp_path / "gdc")
    assert list(g.obs_names) == ["0a1b", "2c3d"] and g.var["gene_name"].tolist() == ["G0", "G1", "G2", "G3"]
    # the GDC portal's metadata JSON (one record per file): labels and TCGA sample names, as its sample sheet's
    import json

    meta = [{"file_name": f"{u}.rna_seq.augmented_star_gene_counts.tsv", "file_id": u, "data_type": "Gene Expression "
             "Quantification", "associated_entities": [{"entity_submitter_id": f"TCGA-A{i}-000{i}-01A-11R-A144-07"}],
             "cases": [{"submitter_id": f"TCGA-A{i}-000{i}", "project": {"project_id": p},
                        "samples": [{"submitter_id": f"TCGA-A{i}-000{i}-01A", "sample_type": "Primary Tumor"}]}]}
            for i, (u, p) in enumerate((("2c3d", "TCGA-LUAD"), ("0a1b", "TCGA-UCEC")))]
    (tmp_path / "metadata.cart.json").write_text(json.dumps(meta, indent=2))
    for key in ("Project ID", "cases.project.project_id"):
        j = read(tmp_path / "gdc", labels=tmp_path / "metadata.cart.json", label_key=key)
        assert j.obs[key].tolist() == ["TCGA-UCEC", "TCGA-LUAD"]
    named = read(tmp_path / "gdc", sample_names=tmp_path / "metadata.cart.json")
    assert list(named.obs_names) == ["TCGA-A1-0001-01A", "TCGA-A0-0000-01A"]
    assert named.obs["sample_type"].tolist() == ["Primary Solid Tumor"] * 2   # from the barcodes
    # data info renames the same way (it showed the files' ids and no sample type)
    from rnagen.cli.main import main

    assert main(["data", "info", str(tmp_path / "gdc"), "--sample-names", str(tmp_path / "metadata.cart.json")]) == 0
    out = capsys.readouterr().out
    assert "labels (sample_type): 1 class\n" in out and "Primary Solid Tumor  2" in out
    assert "sample_names=metadata.cart.json" in out
    (tmp_path / "api.json").write_text(json.dumps({"data": {"hits": meta}, "warnings": {}}))
    assert read(tmp_path / "gdc", labels=tmp_path / "api.json", label_key="Sample Type").obs["Sample Type"].tolist() \
        == ["Primary Tumor"] * 2
    for text, match in (('[{"file_name": "x"', "not readable JSON"),
                        ('{"files": 2}', "JSON that is no list of records")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(DataError, match=f"label file bad.json: {match}"):
            read(tmp_path / "gdc", labels=tmp_path / "bad.json")
    np.testing.assert_array_equal(g.X, counts)
    np.testing.assert_allclose(read(tmp_path / "gdc", quantity="tpm").X, tpm)
    # RSEM, genes in another order in the second file
    for i, s in enumerate(["A", "B"]):
        order = [3, 1, 0, 2] if i else [0, 1, 2, 3]
        rows = ["gene_id\ttranscript_id(s)\tlength\teffective_length\texpected_count\tTPM\tFPKM"]
        rows += [f"{GENES[j]}\tT{j}\t1000\t850.5\t{counts[i, j]}.00\t{tpm[i, j]}\t1.0" for j in order]
        (tmp_path / "rsem").mkdir(exist_ok=True)
        (tmp_path / "rsem" / f"{s}.genes.results").write_text("\n".join(rows) + "\n")
    r = read(tmp_path / "rsem")
    assert list(r.obs_names) == ["A", "B"] and list(r.var_names) == GENES
    np.testing.assert_array_equal(r.X, counts)
    np.testing.assert_allclose(read(tmp_path / "rsem", quantity="tpm").X, tpm)
    # Salmon (nf-core layout: salmon/<sample>/quant.genes.sf)
    for i, s in enumerate(["ctl_1", "trt_1"]):
        rows = ["Name\tLength\tEffectiveLength\tTPM\tNumReads"]
        rows += [f"{g}\t1500\t1320.7\t{tpm[i, j]}\t{counts[i, j] + 0.25}" for j, g in enumerate(GENES)]
        (tmp_path / "salmon" / s).mkdir(parents=True)
        (tmp_path / "salmon" / s / "quant.genes.sf").write_text("\n".join(rows) + "\n")
        (tmp_path / "salmon" / s / "quant.sf").write_text("Name\tLength\tEffectiveLength\tTPM\tNumReads\n")
    sa = read(tmp_path / "salmon")
    assert list(sa.obs_names) == ["ctl_1", "trt_1"]
    np.testing.assert_allclose(sa.X, counts + 0.25)
    # HTSeq-count: any file name, the __ rows dropped
    for i, s in enumerate(["x1", "x2"]):
        rows = [f"{g}\t{counts[i, j]}" for j, g in enumerate(GENES)]
        rows += ["__no_feature\t99", "__ambiguous\t3", "__too_low_aQual\t0", "__not_aligned\t7",
                 "__alignment_not_unique\t12"]
        (tmp_path / "htseq").mkdir(exist_ok=True)
        (tmp_path / "htseq" / f"{s}.counts.txt").write_text("\n".join(rows) + "\n")
    (tmp_path / "htseq" / "README.md").write_text("# counts of the run\n")
    h = read(tmp_path / "htseq")
    assert list(h.obs_names) == ["x1", "x2"] and list(h.var_names) == GENES
    np.testing.assert_array_equal(h.X, counts)


def test_quant_folder_refusals_and_cli(tmp_path, capsys):
    c = np.array([10, 20, 30, 40])
    _star(tmp_path / "s" / "a.ReadsPerGene.out.tab", c, c // 2, c // 2)
    _star(tmp_path / "s" / "b.ReadsPerGene.out.tab", c, c // 2, c // 2)
    (tmp_path / "empty").mkdir()
    cases = [
        (tmp_path / "empty", {}, "a folder without per-sample quantification files"),
        (tmp_path / "s", {"quantity": "tpm"}, "hold counts only; remove --quantity tpm"),
    ]
    for path, kw, match in cases:
        with pytest.raises(DataError, match=match):
            read(path, **kw)
    (tmp_path / "s" / "c.counts").write_text("\n".join(f"{g}\t5" for g in GENES) + "\n")
    with pytest.raises(DataError, match=r"files of several kinds \(2 STAR ReadsPerGene.out.tab, 1 HTSeq-count\)"):
        read(tmp_path / "s")
    (tmp_path / "s" / "c.counts").unlink()
    _star(tmp_path / "s" / "d.ReadsPerGene.out.tab", c[:3], c[:3], c[:3])
    (tmp_path / "s" / "d.ReadsPerGene.out.tab").write_text(
        (tmp_path / "s" / "d.ReadsPerGene.out.tab").read_text().replace(GENES[3], "ENSG00000999999.1") + "")
    with pytest.raises(DataError, match="not the same ones: the files come from different annotations"):
        read(tmp_path / "s")
    (tmp_path / "s" / "d.ReadsPerGene.out.tab").unlink()
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "x.txt").write_text(f"{GENES[0]}\t5\n{GENES[1]}\tfive\n")
    (tmp_path / "h" / "y.txt").write_text(f"{GENES[0]}\t5\n{GENES[1]}\t6\n")
    with pytest.raises(DataError, match="non-numeric value 'five' for gene"):
        read(tmp_path / "h")
    with pytest.raises(DataError, match="--strand applies to STAR's and GDC's counts"):
        read(tmp_path / "h", strand="forward")
    m = tmp_path / "m.csv"
    m.write_text("id,TP53,EGFR\ns1,1,2\ns2,3,4\n")
    with pytest.raises(DataError, match="--quantity and --strand apply to a folder"):
        read(m, quantity="tpm")
    read(m).write_h5ad(tmp_path / "h5ad_as.txt")   # an .h5ad under a text name: refused alike
    with pytest.raises(DataError, match="--quantity and --strand apply to a folder"):
        read(tmp_path / "h5ad_as.txt", quantity="tpm")
    # the command line: labels by sample name, depth normalised, one-line refusals that write nothing
    _star(tmp_path / "s" / "e.ReadsPerGene.out.tab", 2 * c, c, c)
    _star(tmp_path / "s" / "f.ReadsPerGene.out.tab", 3 * c, c, c)
    (tmp_path / "labels.tsv").write_text("sample\tgroup\na\tx\nb\ty\ne\tx\nf\ty\n")
    out = tmp_path / "p.h5ad"
    assert main(["data", "prepare", str(tmp_path / "s"), "--labels", str(tmp_path / "labels.tsv"), "--genes", "all",
                 "--normalize", "cpm", "--out", str(out)]) == 0
    p = ad.read_h5ad(out)
    assert p.obs["group"].astype(str).tolist() == ["x", "y", "x", "y"] and p.n_vars == 4
    np.testing.assert_allclose(p.X, np.log2(np.tile(c / c.sum() * 1e6, (4, 1)) + 1), rtol=1e-5)  # depth removed
    capsys.readouterr()
    for args, match in (([str(tmp_path / "empty")], "without per-sample quantification files"),
                        ([str(m), "--strand", "reverse"], "apply to a folder"),
                        (["gtex26", "--quantity", "tpm"], "apply to other inputs")):
        assert main(["data", "prepare", *args, "--genes", "all", "--out", str(tmp_path / "q.h5ad")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and match in err
    assert not (tmp_path / "q.h5ad").exists()


def test_transcript_folders_summed_to_genes(tmp_path, capsys):
    """Salmon quant.sf / kallisto abundance.tsv are per transcript: a tx2gene table with --duplicates sum adds
    them up to genes (tximport's counts), versions on one side only matched; without one, landmark genes are
    refused with the fix."""
    tx = ["ENST00000000001.3", "ENST00000000002.1", "ENST00000000003.7", "ENST00000000004.2"]
    gene_of = {"ENST00000000001": "ENSG00000092010", "ENST00000000002": "ENSG00000092010",
               "ENST00000000003": "ENSG00000122873", "ENST00000000004": "ENSG00000124664"}
    reads = {"c1": [10.5, 4.5, 30.0, 2.0], "c2": [20.0, 0.0, 12.25, 8.0], "t1": [1.0, 1.0, 50.0, 3.0],
             "t2": [3.0, 2.0, 44.0, 1.0]}
    for s, r in reads.items():
        d = tmp_path / "salmon" / s
        d.mkdir(parents=True)
        rows = ["Name\tLength\tEffectiveLength\tTPM\tNumReads"] + [f"{t}\t900\t750.2\t1.0\t{v}" for t, v in zip(tx, r)]
        (d / "quant.sf").write_text("\n".join(rows) + "\n")
        k = tmp_path / "kallisto" / s
        k.mkdir(parents=True)
        rows = ["target_id\tlength\teff_length\test_counts\ttpm"]  # a GENCODE transcriptome's names
        rows += [f"{t}|{gene_of[t.split('.')[0]]}.4|OTTHUMG1|OTTHUMT1|X-201|X|900|protein_coding|\t900\t750.2\t{v}\t2.5"
                 for t, v in zip(tx, r)]
        (k / "abundance.tsv").write_text("\n".join(rows) + "\n")
    a = read(tmp_path / "kallisto")
    assert list(a.obs_names) == ["c1", "c2", "t1", "t2"] and list(a.var_names) == tx
    assert get_history(a)[0]["quant_level"] == "transcript"
    np.testing.assert_allclose(read(tmp_path / "kallisto", quantity="tpm").X, 2.5)
    (tmp_path / "tx2gene.tsv").write_text("TXNAME\tGENEID\n" + "".join(f"{t}\t{g}\n" for t, g in gene_of.items()))
    (tmp_path / "labels.tsv").write_text("sample\tarm\nc1\tctl\nc2\tctl\nt1\ttrt\nt2\ttrt\n")
    base = ["data", "prepare", str(tmp_path / "salmon"), "--labels", str(tmp_path / "labels.tsv")]
    assert main([*base, "--out", str(tmp_path / "x.h5ad")]) == 2
    err = capsys.readouterr().err
    assert "holds transcript-level values (salmon_tx)" in err and "--duplicates sum" in err and err.count("\n") == 1
    assert main(["data", "info", str(tmp_path / "salmon")]) == 0
    assert "features:  4 transcripts without their genes: rnagen data prepare --feature-map tx2gene.tsv" in \
        capsys.readouterr().out
    out = tmp_path / "genes.h5ad"
    assert main([*base, "--feature-map", str(tmp_path / "tx2gene.tsv"), "--duplicates", "sum", "--genes", "all",
                 "--log", "none", "--out", str(out)]) == 0
    assert "1 feature added to another of the same gene (--duplicates sum)" in capsys.readouterr().out
    g = ad.read_h5ad(out)
    assert list(g.var_names) == ["ENSG00000092010", "ENSG00000122873", "ENSG00000124664"]
    r = np.array(list(reads.values()))
    np.testing.assert_allclose(g.X, np.c_[r[:, 0] + r[:, 1], r[:, 2], r[:, 3]], rtol=1e-6)
    assert [h["matched_without_version"] for h in get_history(g) if h["step"] == "map_features"] == [True]
    # the tx2gene in a GENCODE GTF, a GENCODE GFF3 or an Ensembl GFF3 (Parent=gene:...): the same sums
    gtf = ["##description: evidence-based annotation", "##provider: GENCODE"]
    gff = ["##gff-version 3"]
    ens = ["##gff-version 3"]
    for gid in dict.fromkeys(gene_of.values()):
        gtf.append(f'chr1\tHAVANA\tgene\t1\t900\t.\t+\t.\tgene_id "{gid}.4"; gene_type "protein_coding";')
        gff.append(f"chr1\tHAVANA\tgene\t1\t900\t.\t+\t.\tID={gid}.4;gene_id={gid}.4;gene_type=protein_coding")
        ens.append(f"1\tensembl_havana\tgene\t1\t900\t.\t-\t.\tID=gene:{gid};Name=X;biotype=protein_coding")
        for t in (t for t in tx if gene_of[t.split(".")[0]] == gid):
            gtf.append(f'chr1\tHAVANA\ttranscript\t1\t900\t.\t+\t.\tgene_id "{gid}.4"; transcript_id "{t}"; '
                       f'transcript_name "X-201";')
            gtf.append(f'chr1\tHAVANA\texon\t1\t900\t.\t+\t.\tgene_id "{gid}.4"; transcript_id "{t}"; exon_number 1;')
            gff.append(f"chr1\tHAVANA\ttranscript\t1\t900\t.\t+\t.\tID={t};Parent={gid}.4;gene_id={gid}.4;"
                       f"transcript_id={t}")
            ens.append(f"1\tensembl_havana\tmRNA\t1\t900\t.\t-\t.\tID=transcript:{t.split('.')[0]};"
                       f"Parent=gene:{gid};transcript_id={t.split('.')[0]}")
            ens.append(f"1\tensembl_havana\texon\t1\t900\t.\t-\t.\tParent=transcript:{t.split('.')[0]};Name=E1")
    for name, lines in (("gencode.v44.annotation.gtf", gtf), ("gencode.v44.annotation.gff3", gff),
                        ("Homo_sapiens.GRCh38.110.gff3", ens)):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        assert main([*base, "--feature-map", str(tmp_path / name), "--duplicates", "sum", "--genes", "all",
                     "--log", "none", "--out", str(tmp_path / f"{name}.h5ad")]) == 0
        a = ad.read_h5ad(tmp_path / f"{name}.h5ad")
        assert [v.split(".")[0] for v in a.var_names] == list(g.var_names), name
        np.testing.assert_allclose(a.X, g.X, rtol=1e-6)
    # GENCODE's names carry the gene: kept, and genes asked for are those sums without a tx2gene table
    k = read(tmp_path / "kallisto")
    assert k.var["gene_id"].tolist() == [gene_of[t.split(".")[0]] + ".4" for t in tx]
    assert k.var["gene_name"].tolist() == ["X"] * 4
    kbase = ["data", "prepare", str(tmp_path / "kallisto"), "--labels", str(tmp_path / "labels.tsv"), "--log", "none"]
    (tmp_path / "genes.txt").write_text("".join(f"{x}\n" for x in dict.fromkeys(gene_of.values())))
    assert main([*kbase, "--genes", str(tmp_path / "genes.txt"), "--out", str(tmp_path / "k.h5ad")]) == 0
    out_msg = capsys.readouterr().out
    assert "4 transcripts added up to 3 genes by the gene ids the data give them (--duplicates sum" in out_msg
    kg = ad.read_h5ad(tmp_path / "k.h5ad")
    assert [v.split(".")[0] for v in kg.var["feature_id"]] == ["ENST00000000001", "ENST00000000003",
                                                                 "ENST00000000004"]
    np.testing.assert_allclose(kg.X, g.X, rtol=1e-6)
    assert main([*kbase, "--genes", "all", "--out", str(tmp_path / "kt.h5ad")]) == 0
    assert ad.read_h5ad(tmp_path / "kt.h5ad").n_vars == 4    # --genes all keeps the transcripts
    capsys.readouterr()


def test_shallow_quantification_is_linear(tmp_path, capsys):
    """RSEM's expected counts of a shallow library (ballgown's tiny.genes.results: almost all below 30, not whole
    numbers, a few hundred above) are the quantifier's linear scale: recorded so, and prepared with log2(x + 1),
    where the log test alone would call them undecided and refuse them."""
    import anndata as ad

    rng = np.random.default_rng(3)
    genes = [f"G{j}" for j in range(2000)]
    vals = {}
    for s in ("a", "b", "c", "d"):
        v = np.round(rng.gamma(0.3, 4.0, len(genes)), 2)
        v[:4] = [120.5, 880.0, 45.25, 3753.0]   # 0.2% above 30
        vals[s] = v
        rows = ["gene_id\ttranscript_id(s)\tlength\teffective_length\texpected_count\tTPM\tFPKM"]
        rows += [f"{g}\tNM_{j}\t1766.00\t1682.33\t{x:.2f}\t0.00\t0.00" for j, (g, x) in enumerate(zip(genes, v))]
        d = tmp_path / "rsem"
        d.mkdir(exist_ok=True)
        (d / f"{s}.genes.results").write_text("\n".join(rows) + "\n")
    assert main(["data", "info", str(tmp_path / "rsem")]) == 0
    assert "log state: linear scale (expected_count as quantified)" in capsys.readouterr().out
    (tmp_path / "lab.tsv").write_text("sample\tarm\na\tx\nb\tx\nc\ty\nd\ty\n")
    assert main(["data", "prepare", str(tmp_path / "rsem"), "--labels", str(tmp_path / "lab.tsv"), "--genes", "all",
                 "--out", str(tmp_path / "r.h5ad")]) == 0
    np.testing.assert_allclose(ad.read_h5ad(tmp_path / "r.h5ad").X, np.log2(np.array(list(vals.values())) + 1),
                               rtol=1e-5)


def test_stringtie_ballgown_tables_point_at_prepde(tmp_path):
    """StringTie -B's ballgown folders (t_data.ctab with FPKM per transcript, e_data/i_data/e2t/i2t.ctab; the layout
    of Bioconductor ballgown's extdata) hold no read counts: a folder of them, or one of the files, is refused in one
    line naming prepDE.py's count matrices (a t_data.ctab was read as a matrix of its numeric columns, and the
    folder stopped at e2t.ctab as an HTSeq table with a repeated gene)."""
    tables = {"t_data.ctab": "t_id\tchr\tstrand\tstart\tend\tt_name\tnum_exons\tlength\tgene_id\tgene_name\tcov\tFPKM\n"
                             "10\t18\t.\t24412069\t24412331\tTCONS_00000010\t1\t263\tXLOC_000010\t\t10.67\t670.55\n"
                             "25\t22\t+\t17308271\t17310226\tTCONS_00000017\t2\t1475\tXLOC_000014\t\t2.327\t146.2\n",
              "e2t.ctab": "e_id\tt_id\n756\t10\n756\t25\n757\t25\n",
              "e_data.ctab": "e_id\tchr\tstrand\tstart\tend\trcount\tucount\tmrcount\tcov\tcov_sd\tmcov\tmcov_sd\n"
                             "756\t18\t.\t24412069\t24412331\t12\t12\t12.0\t10.6\t2.1\t10.6\t2.1\n"}
    for s in ("sample01", "sample02"):
        (tmp_path / "bg" / s).mkdir(parents=True)
        for name, text in tables.items():
            (tmp_path / "bg" / s / name).write_text(text)
    for src in (tmp_path / "bg", tmp_path / "bg" / "sample01" / "t_data.ctab",
                tmp_path / "bg" / "sample01" / "e2t.ctab"):
        with pytest.raises(DataError, match=r"StringTie ballgown table.*give the count matrices StringTie's prepDE.py "
                                            r"makes of these folders \(gene_count_matrix.csv"):
            read(src)


def test_tx2gene_from_other_annotations(tmp_path):
    """The tx2gene of annotations other than GENCODE's and Ensembl's, in the layouts of real files (iGenomes' UCSC
    RefSeq genes.gtf, a Cufflinks merge, Ensembl's GTF with unquoted values, NCBI's RefSeq GFF3, a GFF3 of
    ``mRNA:`` ids): each transcript to its gene; NCBI's exon lines (Parent=rna-...) and UCSC knownGene's gene_id
    repeating the transcript give no gene; an annotation tying no transcript to a gene is named as such."""
    from rnagen.data.io import read_feature_map

    files = {
        "genes.gtf": ['chr1\tunknown\texon\t1884752\t1887289\t.\t-\t.\tgene_id "KIAA1751"; gene_name "KIAA1751"; '
                      'p_id "P31786"; transcript_id "NM_001080484"; tss_id "TSS2527";',
                      'chr17\tunknown\tCDS\t7661779\t7661822\t.\t-\t0\tgene_id "TP53"; transcript_id "NM_000546";'],
        "merged.gtf": ['chr1\tcufflinks\texon\t11874\t12227\t.\t+\t.\ttranscript_id "TCONS_00000001"; '
                       'gene_id "XLOC_000001";',
                       'chr1\tcufflinks\tCDS\t12190\t12227\t.\t+\t.\ttranscript_id "TCONS_00000002"; '
                       'gene_id "XLOC_000001"'],
        "ens.gtf": ["22\tprocessed_transcript\texon\t17308364\t17308950\t.\t+\t.\tgene_id ENSG00000229027; "
                    "transcript_id ENST00000425038; exon_number 1; gene_name HSFY1P1;"],
        "GRCh38_latest_genomic.gff": [
            "NC_000017.11\tBestRefSeq\tgene\t7661779\t7687538\t.\t-\t.\tID=gene-TP53;Dbxref=GeneID:7157;Name=TP53",
            "NC_000017.11\tBestRefSeq\tmRNA\t7661779\t7687538\t.\t-\t.\tID=rna-NM_000546.6;Parent=gene-TP53;"
            "gene=TP53;transcript_id=NM_000546.6",
            "NC_000017.11\tBestRefSeq\texon\t7687377\t7687538\t.\t-\t.\tID=exon-NM_000546.6-1;"
            "Parent=rna-NM_000546.6;gene=TP53;transcript_id=NM_000546.6"],
        "a.gff3": ["SL2.40ch00\tITAG_eugene\tmRNA\t16437\t18189\t.\t+\t.\tID=mRNA:Solyc00g005000.2.1;"
                   "Name=Solyc00g005000.2.1;Parent=gene:Solyc00g005000.2",
                   "SL2.40ch00\tITAG_eugene\texon\t16437\t17275\t.\t+\t.\tID=exon:Solyc00g005000.2.1.1;"
                   "Parent=mRNA:Solyc00g005000.2.1"],
        "knownGene.gtf": ['chr1\thg38_knownGene\texon\t11869\t12227\t.\t+\t.\tgene_id "ENST00000456328.2"; '
                          'transcript_id "ENST00000456328.2";',
                          'chr1\thg38_knownGene\texon\t14404\t14501\t.\t-\t.\tgene_id "ENSG00000227232.5"; '
                          'transcript_id "ENST00000488147.1";'],
    }
    want = {"genes.gtf": {"NM_001080484": "KIAA1751", "NM_000546": "TP53"},
            "merged.gtf": {"TCONS_00000001": "XLOC_000001", "TCONS_00000002": "XLOC_000001"},
            "ens.gtf": {"ENST00000425038": "ENSG00000229027"},
            "GRCh38_latest_genomic.gff": {"NM_000546.6": "TP53"},
            "a.gff3": {"Solyc00g005000.2.1": "Solyc00g005000.2"},
            "knownGene.gtf": {"ENST00000488147.1": "ENSG00000227232.5"}}
    for name, lines in files.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        assert read_feature_map(tmp_path / name) == want[name], name
    (tmp_path / "genes_only.gff3").write_text(
        "##gff-version 3\nctg123\t.\tgene\t1000\t9000\t.\t+\t.\tID=gene00001;Name=EDEN\n"
        "ctg123\t.\tTF_binding_site\t1000\t1012\t.\t+\t.\tID=tfbs00001;Parent=gene00001\n")
    with pytest.raises(DataError, match=r"genes_only.gff3: a GTF/GFF3 annotation none of whose 2 lines ties a "
                                        r"transcript to a gene"):
        read_feature_map(tmp_path / "genes_only.gff3")


def test_duplicates_sum(tmp_path):
    """--duplicates sum adds duplicated samples' or genes' counts (a sum with a copy missing is unknown: NaN),
    and refuses log-scale values."""
    p = tmp_path / "c.csv"
    p.write_text("id,TP53,EGFR,TP53,MYC\ns1,100,200,50,40\ns2,300,,70,60\ns1,1,2,3,4\n")
    a = read(p, duplicates="sum", missing="keep")
    assert list(a.obs_names) == ["s1", "s2"] and list(a.var_names) == ["TP53", "EGFR", "MYC"]
    np.testing.assert_allclose(a.X, [[154, 202, 44], [370, np.nan, 60]])
    p.write_text("id,TP53,EGFR,TP53\ns1,1.5,2.5,3.5\ns2,4.5,5.5,6.5\n")
    with pytest.raises(DataError, match="--duplicates sum adds counts or TPM, and these values look log-scaled"):
        read(p, duplicates="sum")


def test_h5ad_layer(tmp_path, capsys):
    """A scanpy file keeps the counts beside a normalised, logged X: --layer reads them (or adata.raw), and the
    log state recorded for X is not taken for them."""
    import pandas as pd

    from rnagen.pp import log_state, set_log_state

    rng = np.random.default_rng(0)
    counts = rng.poisson(rng.gamma(1.0, 300.0, size=40), size=(12, 40)).astype(np.float32)
    X = np.log1p(counts / counts.sum(1, keepdims=True) * 1e4).astype(np.float32)
    a = ad.AnnData(X=X, obs=pd.DataFrame({"grp": ["a", "b"] * 6}, index=[f"s{i}" for i in range(12)]),
                   var=pd.DataFrame(index=[f"g{j}" for j in range(40)]))
    a.layers["counts"] = counts
    set_log_state(a, logged=True, transform="log1p of CP10k")
    path = tmp_path / "sc.h5ad"
    a.write_h5ad(path)
    b = read(path, layer="counts")
    np.testing.assert_array_equal(b.X, counts)
    assert log_state(b) is None and not b.layers and get_history(b)[-1]["layer"] == "counts"
    a.raw = ad.AnnData(X=counts * 2, var=pd.DataFrame(index=[f"g{j}" for j in range(40)]))
    a.write_h5ad(path)
    np.testing.assert_array_equal(read(path, layer="raw").X, counts * 2)
    with pytest.raises(DataError, match="has no layer 'spliced'; its layers: counts, raw"):
        read(path, layer="spliced")
    out = tmp_path / "p.h5ad"
    assert main(["data", "prepare", str(path), "--layer", "counts", "--label-key", "grp", "--genes", "all",
                 "--id-type", "other", "--normalize", "cpm", "--out", str(out)]) == 0
    p = ad.read_h5ad(out)
    np.testing.assert_allclose(p.X, np.log2(counts / counts.sum(1, keepdims=True) * 1e6 + 1), rtol=1e-5)
    (tmp_path / "m.csv").write_text("id,TP53,EGFR\ns1,1,2\ns2,3,4\n")
    for target in (tmp_path / "m.csv", tmp_path):
        with pytest.raises(DataError, match="--layer applies to .h5ad input"):
            read(target, layer="counts")


def _archive(src_dir, dest, kind, extra=()):
    """``src_dir``'s files packed into a tar, tar.gz or zip archive ``dest`` (paths relative to ``src_dir``),
    with ``extra`` (name, bytes) members added."""
    import io
    import tarfile
    import zipfile

    files = sorted(p for p in src_dir.rglob("*") if p.is_file())
    if kind == "zip":
        with zipfile.ZipFile(dest, "w") as zf:
            for p in files:
                zf.write(p, str(p.relative_to(src_dir)))
            for name, data in extra:
                zf.writestr(name, data)
    else:
        with tarfile.open(dest, "w:gz" if kind == "tgz" else "w") as tf:
            for p in files:
                tf.add(p, str(p.relative_to(src_dir)))
            for name, data in extra:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return dest


def test_zarr_stores_and_10x_folders_are_named(tmp_path, capsys):
    """A folder that is one data set in a layout of its own, an AnnData Zarr store (v2 or v3) or a 10x Genomics
    matrix folder, is named with the way on instead of "a folder without per-sample files"."""
    import gzip

    for name, files in (("x.zarr", {".zgroup": '{"zarr_format": 2}', ".zattrs": '{"encoding-type": "anndata"}'}),
                        ("y.zarr", {"zarr.json": '{"zarr_format": 3, "node_type": "group"}'})):
        (tmp_path / name / "X").mkdir(parents=True)
        for f, text in files.items():
            (tmp_path / name / f).write_text(text)
        with pytest.raises(DataError, match=r"a Zarr store .*anndata.read_zarr\(\"x.zarr\"\).write_h5ad"):
            read(tmp_path / name)
    tenx = tmp_path / "filtered_feature_bc_matrix"
    tenx.mkdir()
    for f, text in (("matrix.mtx.gz", "%%MatrixMarket matrix coordinate integer general\n2 2 1\n1 1 5\n"),
                    ("features.tsv.gz", "ENSG1\tA\tGene Expression\nENSG2\tB\tGene Expression\n"),
                    ("barcodes.tsv.gz", "AAAC-1\nAAAG-1\n")):
        (tenx / f).write_bytes(gzip.compress(text.encode()))
    assert main(["data", "prepare", str(tenx), "--genes", "all", "--out", str(tmp_path / "o.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a 10x Genomics matrix folder (matrix.mtx, features, barcodes) of single cells" \
        in err and not (tmp_path / "o.h5ad").exists()
    # alevin-fry's output (fishpond's extdata/alevin/example-quants/fry-usa-basic): the folder or its alevin/
    fry = tmp_path / "fry-usa-basic"
    (fry / "alevin").mkdir(parents=True)
    (fry / "meta_info.json").write_text('{"alevin-fry version": "0.4.1"}')
    (fry / "alevin" / "quants_mat.mtx").write_text("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 5\n")
    (fry / "alevin" / "quants_mat_rows.txt").write_text("AAAC\nAAAG\n")
    (fry / "alevin" / "quants_mat_cols.txt").write_text("ENSG1\nENSG2\n")
    for src in (fry, fry / "alevin"):
        with pytest.raises(DataError, match=r"an alevin or alevin-fry \(Salmon\) output of single cells"):
            read(src)


def test_rnagen_own_folders_given_as_data_are_named(tmp_path):
    """A run folder, a split folder or a benchmark folder given where data belongs: named with the way on."""
    cases = {"run": (["config.toml", "meta.json", "weights.safetensors"], r"an rnagen run folder .*rnagen sample "),
             "recon": (["config.toml", "meta.json"], r"an rnagen reconstructor folder, not data"),
             "split": (["train.h5ad", "test.h5ad"], r"a folder of rnagen data split's parts.*split/train.h5ad"),
             "bench": (["bench.json", "leaderboard.json"], r"an rnagen benchmark folder, not data")}
    for name, (files, match) in cases.items():
        (tmp_path / name).mkdir()
        for f in files:   # a run's and a reconstructor's config.toml name their model
            (tmp_path / name / f).write_text({"run": 'model = "diffusion"\n', "recon": 'model = "reconstruct"\n'}
                                              .get(name, "x") if f == "config.toml" else "x")
        with pytest.raises(DataError, match=match):
            read(tmp_path / name)


def test_encrypted_and_deflate64_zips_are_named(tmp_path, capsys):
    """A password-protected zip and one packed with a method Python's zipfile lacks (Deflate64: Windows' compressed
    folders of large files; AES): refused in one line with the way on, for a matrix or a folder of files."""
    import re
    import zipfile

    (tmp_path / "m.csv").write_text("gene,S1,S2,S3\nTP53,1,2,3\nEGFR,4,5,6\n")
    for name, member in (("matrix.zip", "m.csv"), ("folder.zip", "s1.htseq.txt")):
        with zipfile.ZipFile(tmp_path / name, "w") as z:
            z.write(tmp_path / "m.csv", member)
            if member != "m.csv":
                z.writestr("s2.htseq.txt", "TP53\t4\nEGFR\t5\n")
        raw = (tmp_path / name).read_bytes()
        enc = bytearray(raw)   # the encryption bit (0) of each entry's flags, local and central headers
        for m in re.finditer(b"PK\x03\x04", raw):
            enc[m.start() + 6] |= 1
        for m in re.finditer(b"PK\x01\x02", raw):
            enc[m.start() + 8] |= 1
        d64 = bytearray(raw)   # compression method 9 (Deflate64)
        for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
            for m in re.finditer(sig, raw):
                d64[m.start() + off:m.start() + off + 2] = (9).to_bytes(2, "little")
        for kind, data, match in (("enc", enc, "is encrypted (a password-protected zip); unzip it with its password"),
                                  ("d64", d64, "is packed in a way Python's zipfile cannot read")):
            (tmp_path / f"{kind}_{name}").write_bytes(bytes(data))
            assert main(["data", "prepare", str(tmp_path / f"{kind}_{name}"), "--genes", "all", "--out",
                         str(tmp_path / "o.h5ad")]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and match in err, err
            assert not (tmp_path / "o.h5ad").exists()


def test_archives_read_as_the_folders_they_unpack_to(tmp_path, capsys):
    """A tar, tar.gz or zip of per-sample files reads as its folder does, without unpacking (nothing written);
    GEO's per-sample two-column tables with a header line read as HTSeq tables; archives without such files,
    damaged archives and --layer are refused in one line."""
    import gzip
    import os

    rng = np.random.default_rng(5)
    c = rng.integers(50, 500, size=(3, len(GENES)))
    for i, s in enumerate(("U1", "U2", "U3")):
        _star(tmp_path / "star" / s / "ReadsPerGene.out.tab", c[i], c[i] // 2, c[i] // 2 + 1)
    (tmp_path / "star" / "U1" / "Log.final.out").write_text("Started job on |\tDec 01\n")
    want = read(tmp_path / "star")
    junk = [("__MACOSX/U1/._ReadsPerGene.out.tab", b"\x00\x05\x16\x07"), (".DS_Store", b"\x00\x00"),
            ("a/b/c/d/S9_ReadsPerGene.out.tab", b"too deep\t1\n")]
    before = sorted(os.listdir(tmp_path))
    for kind, name in (("tar", "star.tar"), ("tgz", "star.tar.gz"), ("tgz", "star.tgz"), ("zip", "star.zip")):
        arc = _archive(tmp_path / "star", tmp_path / name, kind, junk)
        before.append(name)
        a = read(arc)
        assert list(a.obs_names) == ["U1", "U2", "U3"] and list(a.var_names) == GENES, name
        np.testing.assert_array_equal(a.X, want.X)
        assert a.obs["file"].tolist() == want.obs["file"].tolist()
        h = get_history(a)[0]
        assert h["format"] == "folder" and h["quant_archive"] == name and h["quant_strand"] == "unstranded"
        b, info = read_quant_folder(arc, strand="forward")
        np.testing.assert_array_equal(b.X, c // 2)
    assert sorted(os.listdir(tmp_path)) == sorted(before)   # nothing unpacked
    # GEO's RAW.tar: gzipped two-column tables named GSMxxx_<title>, a header line in some
    geo = tmp_path / "geo"
    geo.mkdir()
    for i, (gsm, header) in enumerate((("GSM11_tumour_A", True), ("GSM12_normal_A", False))):
        rows = ([f"gene_id\t{gsm[:5]}"] if header else []) + [f"{g}\t{v}" for g, v in zip(GENES, c[i])]
        (geo / f"{gsm}.txt.gz").write_bytes(gzip.compress(("\n".join(rows + ["__no_feature\t5"]) + "\n").encode()))
    (geo / "README.txt").write_text("Counts per gene from HTSeq\nversion 0.11\n")   # not a table
    arc = _archive(geo, tmp_path / "GSE1_RAW.tar", "tar")
    g = read(arc)
    assert list(g.obs_names) == ["GSM11_tumour_A", "GSM12_normal_A"] and list(g.var_names) == GENES
    np.testing.assert_array_equal(g.X, c[:2])
    # an archive of one matrix file reads as that file (copied to a temporary folder, removed after)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "matrix.csv.gz").write_bytes(gzip.compress(b"gene,S1,S2\nTP53,1,2\nEGFR,3,4\n"))
    (tmp_path / "m" / ".DS_Store").write_bytes(b"\0\1")
    (tmp_path / "m" / "README.txt").write_text("Counts per gene, one column per sample.\n")
    before = sorted(os.listdir(tmp_path))
    for kind in ("tar", "zip"):
        m = read(_archive(tmp_path / "m", tmp_path / f"m.{kind}", kind))
        assert list(m.obs_names) == ["S1", "S2"] and list(m.var_names) == ["TP53", "EGFR"]
        np.testing.assert_array_equal(m.X, [[1, 3], [2, 4]])
        h = get_history(m)[0]
        assert (h["archive"], h["member"], h["format"]) == (f"m.{kind}", "matrix.csv.gz", "csv")
    assert sorted(os.listdir(tmp_path)) == sorted(before + ["m.tar", "m.zip"])
    # refusals
    (tmp_path / "m" / "other.tsv").write_text("gene\tS1\tS2\nTP53\t1\t2\n")
    with pytest.raises(DataError, match=r"m2.tar: an archive of 2 matrix files \(matrix.csv.gz, other.tsv\); "
                                        r"unpack it \(tar -xf or unzip\) and give the one to read"):
        read(_archive(tmp_path / "m", tmp_path / "m2.tar", "tar"))
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.pdf").write_bytes(b"%PDF")
    with pytest.raises(DataError, match=r"an archive without per-sample .* or a single matrix file .*unpack it"):
        read(_archive(tmp_path / "r", tmp_path / "r.tar", "tar"))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes((tmp_path / "star.tar.gz").read_bytes()[:200])
    with pytest.raises(DataError, match="cut.tar.gz: not a readable tar archive"):
        read(cut)
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match="bad.zip: not a readable zip archive"):
        read(tmp_path / "bad.zip")
    with pytest.raises(DataError, match="--layer applies to .h5ad input; star.tar is an archive"):
        read(tmp_path / "star.tar", layer="counts")
    # the command line: an archive prepares like its folder; a bad one fails in one line, writes nothing
    out = tmp_path / "p.h5ad"
    assert main(["data", "prepare", str(tmp_path / "star.zip"), "--genes", "all", "--out", str(out)]) == 0
    np.testing.assert_allclose(ad.read_h5ad(out).X, np.log2(want.X + 1), rtol=1e-6)
    capsys.readouterr()
    assert main(["data", "prepare", str(cut), "--genes", "all", "--out", str(tmp_path / "q.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable tar archive" in err and not (tmp_path / "q.h5ad").exists()
    # info summarises an archive (and a folder) of per-sample files as prepare reads it
    for arc in (tmp_path / "star.tar.gz", tmp_path / "star.zip", tmp_path / "star"):
        assert main(["data", "info", str(arc)]) == 0
        assert "samples:   3" in capsys.readouterr().out


def test_raw_data_is_named_with_the_way_to_values(tmp_path):
    """Raw data given instead of expression values (GEO's RAW.tar of CEL files, a folder of IDATs, reads,
    alignments, Agilent Feature Extraction and GenePix files), alone or in a folder or archive, is named with what
    makes values of it."""
    import gzip

    cel = tmp_path / "cel"
    cel.mkdir()
    for g in ("GSM1", "GSM2", "GSM3"):
        (cel / f"{g}.CEL.gz").write_bytes(gzip.compress(b"@\x00\x00\x00\x04\x00\x00\x00\x01\x02"))
    (cel / "filelist.txt").write_text("GSM1.CEL.gz\n")
    for what in (cel, _archive(cel, tmp_path / "GSE1_RAW.tar", "tar")):
        with pytest.raises(DataError, match=r": 3 Affymetrix CEL files .*oligo::rma"):
            read(what)
    with pytest.raises(DataError, match=r"GSM1.CEL.gz: an Affymetrix CEL file .*oligo::rma"):
        read(cel / "GSM1.CEL.gz")
    (tmp_path / "v3.CEL").write_text("[CEL]\nVersion=3\n")
    with pytest.raises(DataError, match="an Affymetrix CEL file"):
        read(tmp_path / "v3.CEL")
    idat = tmp_path / "idat"
    idat.mkdir()
    (idat / "200_R01C01_Grn.idat").write_bytes(b"IDAT\x03")
    with pytest.raises(DataError, match=r"1 Illumina IDAT files .*limma::read.idat"):
        read(idat)
    (tmp_path / "r.fastq.gz").write_bytes(gzip.compress(b"@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIIII\n"))
    with pytest.raises(DataError, match=r"r.fastq.gz: sequencing FASTQ reads, not expression values; quantify"):
        read(tmp_path / "r.fastq.gz")
    (tmp_path / "a.bam").write_bytes(gzip.compress(b"BAM\x01\x00\x00"))
    (tmp_path / "a.sam").write_text("@HD\tVN:1.6\n@SQ\tSN:chr1\tLN:100\n")
    for name in ("a.bam", "a.sam"):
        with pytest.raises(DataError, match=f"{name}: sequencing alignments, not expression values"):
            read(tmp_path / name)
    # microarray scanners' text outputs, by content: Agilent Feature Extraction (GEO's RAW.tar of .txt.gz, alone,
    # or in a folder) and GenePix (ATF)
    head = ("TYPE\ttext\ttext\tinteger\nFEPARAMS\tProtocol_Name\tScan_Date\nDATA\tGE1_107_Sep09\t09-20-2011\n*\n"
            "TYPE\tinteger\ttext\tfloat\nFEATURES\tFeatureNum\tProbeName\tgProcessedSignal\n")
    fe = tmp_path / "agilent"
    fe.mkdir()
    for i in range(3):
        (fe / f"GSM10{i}_US45102997_S01_GE1_107_Sep09_1_1.txt.gz").write_bytes(gzip.compress(
            (head + "".join(f"DATA\t{j}\tA_23_P{j}\t{100 + i * j}.5\n" for j in range(1, 9))).encode()))
    (fe / "filelist.txt").write_text("Archive\tName\n")
    for what in (fe, _archive(fe, tmp_path / "GSE2_RAW.tar", "tar")):
        with pytest.raises(DataError, match=r": 3 Agilent Feature Extraction files \(one array's probe intensities\), "
                                            r"not expression values; .*limma::read.maimages"):
            read(what)
    with pytest.raises(DataError, match=r"GSM100_.*.txt.gz: an Agilent Feature Extraction file"):
        read(next(fe.glob("GSM100*")))
    (tmp_path / "a.gpr").write_text('ATF\t1.0\n29\t43\n"Type=GenePix Results 3"\n"Block"\t"Name"\t"F635 Median"\n'
                                    '1\t"p1"\t512\n')
    with pytest.raises(DataError, match=r"a.gpr: a GenePix results file \(ATF\) .*source = \"genepix\""):
        read(tmp_path / "a.gpr")


def test_compressed_tar_is_decompressed_once_into_a_temporary_plain_tar(tmp_path, monkeypatch, capsys):
    """A tar.gz (or .tar.bz2, .tar.xz) of per-sample files stored out of path order is decompressed once, in one
    pass, and its members read from the plain copy: reading them straight from the compressed stream seeks back
    and decompresses it again per member. The copy lives in the temporary folder and is gone afterwards, also when
    the read fails; a full disk or a damaged stream is refused in one line."""
    import errno
    import io
    import tarfile
    import tempfile

    from rnagen.data import quant

    rng = np.random.default_rng(8)
    c = rng.integers(50, 500, size=(4, len(GENES)))
    for i in range(4):
        _star(tmp_path / "star" / f"S{i}_ReadsPerGene.out.tab", c[i], c[i] // 2, c[i] // 2 + 1)
    want = read(tmp_path / "star")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    opened, streams = [], []
    real_open = tarfile.open

    def spy_open(name=None, *a, **k):
        with open(name, "rb") as fh:
            opened.append(fh.read(3))
        return real_open(name, *a, **k)

    monkeypatch.setattr(quant.tarfile, "open", spy_open)

    def counting(op):
        def wrapped(*a, **k):
            streams.append(a[0])
            return op(*a, **k)
        return wrapped

    monkeypatch.setattr(quant, "_COMPRESSED", tuple((m, counting(op)) for m, op in quant._COMPRESSED))
    for mode, name in (("w:gz", "s.tar.gz"), ("w:bz2", "s.tar.bz2"), ("w:xz", "s.tar.xz"), ("w:gz", "s.tgz")):
        arc = tmp_path / name
        with real_open(arc, mode) as tf:   # the archive's order is not the path order
            for p in sorted((tmp_path / "star").iterdir(), reverse=True):
                tf.add(p, p.name)
        opened.clear(), streams.clear()
        a = read(arc)
        assert list(a.obs_names) == [f"S{i}" for i in range(4)], name
        np.testing.assert_array_equal(a.X, want.X)
        assert get_history(a)[0]["quant_archive"] == name
        # listed twice (one matrix file? then the per-sample files), decompressed once, members read from a plain
        # tar (no compression magic at its start)
        assert streams == [arc] and len(opened) == 2, (name, streams, opened)
        assert not any(m.startswith((b"\x1f\x8b", b"BZh", b"\xfd7z")) for m in opened)
        assert list(tmpdir.iterdir()) == []
        b, _ = read_quant_folder(arc)   # on its own too
        np.testing.assert_array_equal(b.X, want.X)
        assert list(tmpdir.iterdir()) == []
    # an archive of one matrix file, gzipped tar: the matrix, copies removed
    buf = b"gene,S1,S2\nTP53,1,2\nEGFR,3,4\n"
    with real_open(tmp_path / "m.tar.gz", "w:gz") as tf:
        info = tarfile.TarInfo("counts.csv")
        info.size = len(buf)
        tf.addfile(info, io.BytesIO(buf))
    streams.clear()
    m = read(tmp_path / "m.tar.gz")
    assert list(m.obs_names) == ["S1", "S2"] and streams == [tmp_path / "m.tar.gz"]
    assert list(tmpdir.iterdir()) == []
    # a full temporary folder: one line naming it and the way round; nothing left there
    def full(src, dst, *a):
        dst.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(quant.shutil, "copyfileobj", full)
    with pytest.raises(DataError, match=r"s.tar.xz: cannot be decompressed into the temporary folder .*No space left "
                                        r"on device.*set TMPDIR.*or unpack the archive yourself"):
        read(tmp_path / "s.tar.xz")
    assert list(tmpdir.iterdir()) == []
    capsys.readouterr()
    assert main(["data", "prepare", str(tmp_path / "s.tar.gz"), "--genes", "all", "--out",
                 str(tmp_path / "q.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and not (tmp_path / "q.h5ad").exists()
    monkeypatch.undo()
    # a damaged compressed stream (cut short, or bytes changed inside)
    for name in ("s.tar.xz", "s.tar.bz2", "s.tar.gz"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut_{name}").write_bytes(data[: len(data) // 2])
        with pytest.raises(DataError, match=f"cut_{name}: not a readable tar archive"):
            read(tmp_path / f"cut_{name}")
        bad = bytearray(data)
        bad[len(bad) // 2: len(bad) // 2 + 64] = bytes(64)
        (tmp_path / f"bad_{name}").write_bytes(bytes(bad))
        with pytest.raises(DataError, match=f"bad_{name}: not a readable tar archive"):
            read(tmp_path / f"bad_{name}")


def test_per_sample_featurecounts_and_rsem_isoforms(tmp_path, capsys):
    """featureCounts run once per sample (its comment line, five annotation columns, the BAM's counts): read by
    content, named by the file, gene lengths kept for TPM; its .summary files beside are skipped; a table of
    several samples in such a folder is refused. RSEM's .isoforms.results are read where no .genes.results is
    beside them, as transcripts."""
    counts = np.array([[12, 0, 7, 300], [40, 5, 9, 150]])
    lengths = [1200, 800, 4000, 2500]
    fc = tmp_path / "fc"
    fc.mkdir()
    for i, s in enumerate(["ctl_1", "trt_1"]):
        rows = [f'# Program:featureCounts v2.0.6; Command:"featureCounts" "-a" "genes.gtf" "-o" '
                f'"{s}.featureCounts.txt" "{s}.bam"',
                "Geneid\tChr\tStart\tEnd\tStrand\tLength\t" + f"/data/bam/{s}.Aligned.sortedByCoord.out.bam"]
        rows += [f"{g}\tchr1;chr1\t100;400\t300;900\t+;+\t{n}\t{counts[i, j]}"
                 for j, (g, n) in enumerate(zip(GENES, lengths))]
        (fc / f"{s}.featureCounts.txt").write_text("\n".join(rows) + "\n")
        (fc / f"{s}.featureCounts.txt.summary").write_text(f"Status\t/data/bam/{s}.bam\nAssigned\t{counts[i].sum()}\n")
    a = read(fc)
    assert list(a.obs_names) == ["ctl_1", "trt_1"] and list(a.var_names) == GENES
    np.testing.assert_array_equal(a.X, counts)
    assert a.var["length"].tolist() == lengths and get_history(a)[0]["quant_kind"] == "featurecounts"
    out = tmp_path / "p.h5ad"
    assert main(["data", "prepare", str(fc), "--genes", "all", "--normalize", "tpm", "--out", str(out)]) == 0
    rate = counts / np.array(lengths) * 1000
    np.testing.assert_allclose(ad.read_h5ad(out).X, np.log2(rate / rate.sum(1, keepdims=True) * 1e6 + 1), rtol=1e-5)
    capsys.readouterr()
    with pytest.raises(DataError, match="featureCounts files hold counts only"):
        read(fc, quantity="tpm")
    # a table of two samples among them: refused with the fix
    rows = ["# Program:featureCounts v2.0.6", "Geneid\tChr\tStart\tEnd\tStrand\tLength\ta.bam\tb.bam"]
    rows += [f"{g}\tchr1\t1\t2\t+\t{n}\t1\t2" for g, n in zip(GENES, lengths)]
    (fc / "all.txt").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="a featureCounts table of 2 samples in a folder of per-sample files; give "
                                        "the table itself"):
        read(fc)
    # that table alone in an archive (with its .summary): the table itself
    (tmp_path / "fc2").mkdir()
    (tmp_path / "fc2" / "all.txt").write_bytes((fc / "all.txt").read_bytes())
    (tmp_path / "fc2" / "all.txt.summary").write_text("Status\ta.bam\tb.bam\nAssigned\t4\t8\n")
    t = read(_archive(tmp_path / "fc2", tmp_path / "fc2.tar.gz", "tar.gz"))
    assert list(t.obs_names) == ["a", "b"] and list(t.var_names) == GENES
    np.testing.assert_array_equal(t.X, [[1] * 4, [2] * 4])
    assert get_history(t)[0]["format"] == "featurecounts" and get_history(t)[0]["member"] == "all.txt"
    # RSEM: genes and isoforms side by side -> the genes; isoforms alone -> transcripts
    rs = tmp_path / "rsem"
    rs.mkdir()
    tx = ["ENST00000373020.9", "ENST00000494424.1", "ENST00000496771.5"]
    for i, s in enumerate(["A", "B"]):
        rows = ["transcript_id\tgene_id\tlength\teffective_length\texpected_count\tTPM\tFPKM\tIsoPct"]
        rows += [f"{t}\t{GENES[3]}\t2206\t2056.5\t{counts[i, j]}.00\t{j + 1.5}\t1.0\t50.0" for j, t in enumerate(tx)]
        (rs / f"{s}.isoforms.results").write_text("\n".join(rows) + "\n")
    t, info = read_quant_folder(rs)
    assert info["kind"] == "rsem_tx" and info["level"] == "transcript" and list(t.var_names) == tx
    np.testing.assert_array_equal(t.X, counts[:, :3])
    np.testing.assert_allclose(read_quant_folder(rs, quantity="tpm")[0].X, [[1.5, 2.5, 3.5]] * 2)
    assert t.var["gene_id"].tolist() == [GENES[3]] * 3   # RSEM's gene_id column: summed to it by prepare
    (tmp_path / "genes.txt").write_text(GENES[3] + "\n")
    assert main(["data", "prepare", str(rs), "--genes", str(tmp_path / "genes.txt"), "--log", "none", "--out",
                 str(tmp_path / "rs.h5ad")]) == 0
    assert "3 transcripts added up to 1 gene by" in capsys.readouterr().out
    np.testing.assert_allclose(ad.read_h5ad(tmp_path / "rs.h5ad").X, counts[:, :3].sum(1, keepdims=True))
    for i, s in enumerate(["A", "B"]):
        rows = ["gene_id\ttranscript_id(s)\tlength\teffective_length\texpected_count\tTPM\tFPKM"]
        rows += [f"{g}\tT{j}\t1000\t850.5\t{counts[i, j]}.00\t1.0\t1.0" for j, g in enumerate(GENES)]
        (rs / f"{s}.genes.results").write_text("\n".join(rows) + "\n")
    g, info = read_quant_folder(rs)
    assert info["kind"] == "rsem" and list(g.var_names) == GENES and list(g.obs_names) == ["A", "B"]
    # a table of the kind without the column asked for: named, with the columns it has
    (rs / "B.genes.results").write_text("gene_id\tlength\tTPM\n" + "".join(f"{g}\t1000\t1.0\n" for g in GENES))
    with pytest.raises(DataError, match=r"B.genes.results: no 'expected_count' column \(columns: length, TPM\); is it "
                                        "a RSEM .genes.results file"):
        read_quant_folder(rs)


def test_gdc_mirna_quantification_cart(tmp_path, capsys):
    """A GDC cart of miRNA-seq files, as the gdc-client or the portal's tar.gz gives it (MANIFEST.txt, one folder
    per file id, the isoform table beside the miRNA one in some): read as samples x miRNA precursors of read
    counts, named by file uuid, labelled through the sample sheet; reads per million are --normalize cpm of the
    counts. Isoform tables alone are summed to mature miRNAs by accession."""
    import tarfile

    mirs = ["hsa-let-7a-1", "hsa-let-7a-2", "hsa-mir-21", "hsa-mir-155"]
    counts = np.array([[25514, 25484, 90210, 0], [1200, 1187, 30001, 77], [3, 2, 5000, 12]])
    cart = tmp_path / "cart"
    (cart).mkdir()
    (cart / "MANIFEST.txt").write_text("id\tfilename\tmd5\tsize\tstate\n")
    rows = ["File ID\tFile Name\tData Category\tData Type\tProject ID\tCase ID\tSample ID\tSample Type"]
    for i, (fid, uuid, proj) in enumerate((("f1", "9a7c", "TCGA-UCEC"), ("f2", "3b4e", "TCGA-LUAD"),
                                           ("f3", "77e0", "TCGA-LUAD"))):
        name = f"{uuid}.{'mirnaseq' if i == 2 else 'mirbase21'}.mirnas.quantification.txt"
        total = counts[i].sum()
        lines = ["miRNA_ID\tread_count\treads_per_million_miRNA_mapped\tcross-mapped"]
        lines += [f"{m}\t{c}\t{c / total * 1e6:.6f}\t{'Y' if j == 1 else 'N'}"
                  for j, (m, c) in enumerate(zip(mirs, counts[i]))]
        (cart / fid).mkdir()
        (cart / fid / name).write_text("\n".join(lines) + "\n")
        if i == 0:
            iso = ["miRNA_ID\tisoform_coords\tread_count\treads_per_million_miRNA_mapped\tcross-mapped\tmiRNA_region",
                   "hsa-let-7a-1\thg38:chr9:94175962-94175983:+\t20000\t5000.0\tN\tmature,MIMAT0000062"]
            (cart / fid / f"{uuid}.mirbase21.isoforms.quantification.txt").write_text("\n".join(iso) + "\n")
            (cart / fid / "annotations.txt").write_text("id\tsubmitter_id\tcategory\n")
        rows.append(f"{fid}\t{name}\tTranscriptome Profiling\tmiRNA Expression Quantification\t{proj}\t"
                    f"TCGA-0{i}-000{i}\tTCGA-0{i}-000{i}-01A\tPrimary Tumor")
    (tmp_path / "sheet.tsv").write_text("\n".join(rows) + "\n")
    a = read(cart)
    assert list(a.obs_names) == ["9a7c", "3b4e", "77e0"] and list(a.var_names) == mirs
    np.testing.assert_array_equal(a.X, counts)
    assert get_history(a)[0]["quant_kind"] == "gdc_mirna"
    # the cart as the portal packs it: a tar.gz of the same folders
    with tarfile.open(tmp_path / "gdc_download.tar.gz", "w:gz") as tf:
        for p in sorted(cart.rglob("*")):
            if p.is_file():
                tf.add(p, str(p.relative_to(cart)))
    b = read(tmp_path / "gdc_download.tar.gz", labels=tmp_path / "sheet.tsv", label_key="Project ID")
    np.testing.assert_array_equal(b.X, counts)
    assert b.obs["Project ID"].astype(str).tolist() == ["TCGA-UCEC", "TCGA-LUAD", "TCGA-LUAD"]
    c = read(cart, sample_names=tmp_path / "sheet.tsv")
    assert list(c.obs_names) == ["TCGA-00-0000-01A", "TCGA-01-0001-01A", "TCGA-02-0002-01A"]
    # the command line: miRNAs are not genes (--genes all); --normalize cpm gives the files' reads per million
    out = tmp_path / "m.h5ad"
    assert main(["data", "prepare", str(cart), "--labels", str(tmp_path / "sheet.tsv"), "--label-key", "Project ID",
                 "--genes", "all", "--min-samples", "2", "--normalize", "cpm", "--log", "none", "--out",
                 str(out)]) == 0
    m = ad.read_h5ad(out)   # the one UCEC sample's class dropped
    assert list(m.obs_names) == ["3b4e", "77e0"]
    np.testing.assert_allclose(m.X, counts[1:] / counts[1:].sum(1, keepdims=True) * 1e6, rtol=1e-5)
    with pytest.raises(DataError, match="GDC miRNA quantification files hold counts only; remove --quantity tpm"):
        read(cart, quantity="tpm")
    # isoform tables alone: reads of the isoforms of each mature miRNA summed by accession (let-7a-5p comes from
    # three precursors), other regions (precursor, stemloop, unannotated) left out, 0 where a file lists none
    head = "miRNA_ID\tisoform_coords\tread_count\treads_per_million_miRNA_mapped\tcross-mapped\tmiRNA_region"
    iso = {"s1": [("hsa-let-7a-1", 100, "mature,MIMAT0000062"), ("hsa-let-7a-1", 7, "mature,MIMAT0000062"),
                  ("hsa-let-7a-2", 50, "mature,MIMAT0000062"), ("hsa-let-7a-1", 9, "precursor"),
                  ("hsa-mir-21", 400, "mature,MIMAT0000076"), ("hsa-mir-21", 3, "mature,MIMAT0004494"),
                  ("hsa-mir-21", 5, "unannotated")],
           "s2": [("hsa-let-7a-3", 20, "mature,MIMAT0000062"), ("hsa-mir-21", 90, "mature,MIMAT0000076"),
                  ("hsa-mir-21", 1, "stemloop")]}
    (tmp_path / "iso").mkdir()
    for s, recs in iso.items():
        (tmp_path / "iso" / f"{s}.mirbase21.isoforms.quantification.txt").write_text(
            "\n".join([head] + [f"{m}\thg38:chr9:1-22:+\t{c}\t1.0\tN\t{r}" for m, c, r in recs]) + "\n")
    i = read(tmp_path / "iso")
    assert list(i.obs_names) == ["s1", "s2"]
    assert list(i.var_names) == ["MIMAT0000062", "MIMAT0000076", "MIMAT0004494"]
    np.testing.assert_array_equal(i.X, [[157, 400, 3], [20, 90, 0]])
    assert i.var["precursors"].tolist() == ["hsa-let-7a-1;hsa-let-7a-2;hsa-let-7a-3", "hsa-mir-21", "hsa-mir-21"]
    h = get_history(i)[0]
    assert (h["quant_kind"], h["quant_level"]) == ("gdc_mirna_iso", "mature miRNA")
    # named by miRBase's mature.fa (FASTA) or aliases.txt (the last of each accession's names is the current one)
    (tmp_path / "mature.fa").write_text(">hsa-let-7a-5p MIMAT0000062 Homo sapiens let-7a-5p\nUGAGGUAGUAGGUUGUAUAGUU\n"
                                        ">hsa-miR-21-5p MIMAT0000076 Homo sapiens miR-21-5p\nUAGCUUAUCAGACUGAUGUUGA\n"
                                        ">hsa-miR-21-3p MIMAT0004494 Homo sapiens miR-21-3p\nCAACACCAGUCGAUGGGCUGU\n")
    (tmp_path / "aliases.txt").write_text("MI0000060\thsa-let-7a-1;\nMIMAT0000062\thsa-let-7a;hsa-let-7a-5p;\n"
                                          "MIMAT0000076\thsa-miR-21;hsa-miR-21-5p;\nMIMAT0004494\thsa-miR-21*;hsa-miR-21-3p;\n")
    for fmap in ("mature.fa", "aliases.txt"):
        assert main(["data", "prepare", str(tmp_path / "iso"), "--genes", "all", "--feature-map", str(tmp_path / fmap),
                     "--out", str(tmp_path / f"{fmap}.h5ad")]) == 0
        named = ad.read_h5ad(tmp_path / f"{fmap}.h5ad")
        assert list(named.var_names) == ["hsa-let-7a-5p", "hsa-miR-21-5p", "hsa-miR-21-3p"]
        assert named.var["feature_id"].tolist() == ["MIMAT0000062", "MIMAT0000076", "MIMAT0004494"]
    (tmp_path / "iso" / "s2.mirbase21.isoforms.quantification.txt").write_text(
        head + "\nhsa-mir-21\thg38:chr9:1-22:+\tmany\t1.0\tN\tmature,MIMAT0000076\n")
    capsys.readouterr()
    assert main(["data", "prepare", str(tmp_path / "iso"), "--genes", "all", "--out", str(tmp_path / "i.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "non-numeric value 'many'" in err and not (tmp_path / "i.h5ad").exists()


def _rcc(sample: str, counts: dict[str, tuple[str, int]]) -> bytes:
    """A NanoString nCounter RCC file (CRLF lines, as the instrument writes them): its sections and a
    Code_Summary of the probes given (name -> (code class, count)) after the Positive and Negative controls."""
    lines = ["<Header>", "FileVersion,1.7", "SoftwareVersion,4.0.0.3", "</Header>", "", "<Sample_Attributes>",
             f"ID,{sample}", "GeneRLF,NS_CancerPath_C2535", "</Sample_Attributes>", "", "<Lane_Attributes>", "ID,1",
             "FovCount,280", "FovCounted,276", "BindingDensity,0.82", "</Lane_Attributes>", "", "<Code_Summary>",
             "CodeClass,Name,Accession,Count", "Positive,POS_A(128),ERCC_00117.1,12811",
             "Positive,POS_B(32),ERCC_00112.1,3203", "Negative,NEG_A(0),ERCC_00096.1,11"]
    lines += [f"{cls},{name},NM_000546.5,{n}" for name, (cls, n) in counts.items()]
    lines += ["</Code_Summary>", "", "<Messages>", "</Messages>"]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_nanostring_rcc_files(tmp_path, capsys):
    """A folder (or GEO's RAW.tar) of NanoString nCounter RCC files, gzipped or not: each lane's gene probes
    (Endogenous, Housekeeping) by name, the controls left out and counted, the code class kept; files of another
    panel, a cut file and a non-numeric count refused in one line."""
    import gzip
    import re
    import tarfile

    counts = {"GSM1_P1_01": {"TP53": 523, "ERBB2": 1200, "ESR1": 88, "GAPDH": 15000},
              "GSM2_P2_02": {"TP53": 410, "ERBB2": 90, "ESR1": 1020, "GAPDH": 13200},
              "GSM3_P3_03": {"TP53": 77, "ERBB2": 45, "ESR1": 2400, "GAPDH": 9100}}
    cls = {"TP53": "Endogenous", "ERBB2": "Endogenous", "ESR1": "Endogenous", "GAPDH": "Housekeeping"}
    d = tmp_path / "rcc"
    d.mkdir()
    for i, (s, c) in enumerate(counts.items()):
        data = _rcc(s, {g: (cls[g], n) for g, n in (c.items() if i != 1 else reversed(list(c.items())))})
        if i == 2:
            (d / f"{s}.RCC.gz").write_bytes(gzip.compress(data))
        else:
            (d / f"{s}.RCC").write_bytes(data)
    with tarfile.open(tmp_path / "GSE9_RAW.tar", "w") as tf:
        for p in sorted(d.iterdir()):
            tf.add(p, p.name)
    for src in (d, tmp_path / "GSE9_RAW.tar"):
        a = read(src)
        assert list(a.obs_names) == list(counts) and list(a.var_names) == ["TP53", "ERBB2", "ESR1", "GAPDH"]
        np.testing.assert_array_equal(a.X, [list(c.values()) for c in counts.values()])
        assert a.var["code_class"].tolist() == ["Endogenous"] * 3 + ["Housekeeping"]
        h = get_history(a)[0]
        assert (h["quant_kind"], h["quant_n_control_probes"]) == ("nanostring", 3)
    assert main(["data", "prepare", str(d), "--genes", "all", "--out", str(tmp_path / "n.h5ad")]) == 0
    assert "3 NanoString control probes (Positive, Negative, ...) left out" in capsys.readouterr().out
    with pytest.raises(DataError, match=r"GSM1_P1_01.RCC: a NanoString nCounter RCC file, one sample's lane; give the "
                                        r"folder"):
        read(d / "GSM1_P1_01.RCC")

    bad = {"panel": _rcc("x", {"TP53": ("Endogenous", 5), "MYC": ("Endogenous", 9), "GAPDH": ("Housekeeping", 1),
                               "ACTB": ("Housekeeping", 2)}),
           "cut": _rcc("x", {"TP53": ("Endogenous", 5)}).split(b"</Code_Summary>")[0],
           "text": _rcc("x", {"TP53": ("Endogenous", 5), "ESR1": ("Endogenous", 1), "GAPDH": ("Housekeeping", 3)}
                        ).replace(b"Endogenous,TP53,NM_000546.5,5", b"Endogenous,TP53,NM_000546.5,n/a")}
    match = {"panel": "lists 4 genes and .* 4, not the same ones: the lanes were run with different code sets",
             "cut": "an RCC file without its <Code_Summary> section", "text": "non-numeric count 'n/a' for 'TP53'"}
    for name, data in bad.items():
        (d / "GSM9_bad.RCC").write_bytes(data)
        assert main(["data", "prepare", str(d), "--genes", "all", "--out", str(tmp_path / "b.h5ad")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(match[name], err), err
        assert not (tmp_path / "b.h5ad").exists()


def test_nanostring_normalisation(tmp_path, capsys):
    """--normalize nanostring (nSolver's): each lane scaled by its positive controls' geometric mean over the lanes'
    mean, then by its housekeeping genes' likewise; the product kept as obs['size_factor']; a lane outside nSolver's
    QC ranges named; data without the positive controls or housekeeping genes refused."""
    import anndata as ad

    def lane(sample: str, pos_scale: float, counts: dict[str, tuple[str, int]]) -> bytes:
        lines = ["<Header>", "FileVersion,1.7", "</Header>", "<Code_Summary>", "CodeClass,Name,Accession,Count",
                 f"Positive,POS_A(128),ERCC_00117.1,{round(12800 * pos_scale)}",
                 f"Positive,POS_B(32),ERCC_00112.1,{round(3200 * pos_scale)}", "Negative,NEG_A(0),ERCC_00096.1,11",
                 f"Negative,NEG_B(0),ERCC_00041.1,{round(19 * pos_scale)}", "Negative,NEG_C(0),ERCC_00019.1,6"]
        lines += [f"{c},{g},NM_1.1,{n}" for g, (c, n) in counts.items()]
        return ("\r\n".join([*lines, "</Code_Summary>"]) + "\r\n").encode()

    d = tmp_path / "lanes"
    d.mkdir()
    raw = {"L1": (1.0, [100, 400, 1000, 2000]), "L2": (2.0, [300, 600, 4000, 4000]), "L3": (0.5, [50, 80, 500, 600]),
           "L4": (1.0, [5, 420, 30, 40])}   # L4: housekeeping genes 40x down, TP53 below the background
    for s, (scale, c) in raw.items():
        (d / f"{s}.RCC").write_bytes(lane(s, scale, {"TP53": ("Endogenous", c[0]), "ESR1": ("Endogenous", c[1]),
                                                    "GAPDH": ("Housekeeping", c[2]), "ACTB": ("Housekeeping", c[3])}))
    assert main(["data", "prepare", str(d), "--genes", "all", "--normalize", "nanostring", "--log", "none", "--out",
                 str(tmp_path / "n.h5ad")]) == 0
    out = capsys.readouterr().out
    a = ad.read_h5ad(tmp_path / "n.h5ad")
    X = np.array([c for _, c in raw.values()], dtype=float)
    pos = np.array([s for s, _ in raw.values()])
    pos_f = pos / pos.mean()
    Y = X / pos_f[:, None]
    hk = np.exp(np.log(Y[:, 2:]).mean(axis=1))
    np.testing.assert_allclose(a.X, Y / (hk / hk.mean())[:, None], rtol=1e-5)
    np.testing.assert_allclose(a.obs["size_factor"], pos_f * hk / hk.mean(), rtol=1e-5)
    assert "1 lane outside nSolver's QC ranges of the scaling factors (L4)" in out
    (tmp_path / "c.csv").write_text("gene,S1,S2\nTP53,1,2\nEGFR,3,4\n")
    assert main(["data", "prepare", str(tmp_path / "c.csv"), "--genes", "all", "--normalize", "nanostring",
                 "--out", str(tmp_path / "c.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--normalize nanostring needs NanoString lanes read from their RCC files" in err
    # --background: each lane's negative controls (mean, mean + 2 SD, max) scaled by its positive factor and
    # subtracted between the two scalings (NanoStringNorm's order), values below set to 0
    neg = np.array([[11, round(19 * s), 6] for s, _ in raw.values()], dtype=float)
    for how, bg in (("mean", neg.mean(1)), ("mean+2sd", neg.mean(1) + 2 * neg.std(1, ddof=1)),
                    ("max", neg.max(1))):
        assert main(["data", "prepare", str(d), "--genes", "all", "--normalize", "nanostring", "--background", how,
                     "--log", "none", "--out", str(tmp_path / f"{how}.h5ad")]) == 0
        out = capsys.readouterr().out
        Z = np.maximum(Y - (bg / pos_f)[:, None], 0)
        hz = np.exp(np.log(Z[:, 2:]).mean(axis=1))
        np.testing.assert_allclose(ad.read_h5ad(tmp_path / f"{how}.h5ad").X, Z / (hz / hz.mean())[:, None], rtol=1e-5)
        n0 = int((Y < (bg / pos_f)[:, None]).sum())
        assert n0 == 1 and Z[3, 0] == 0   # L4's TP53
        assert f"each lane's background ({how} of its negative controls" in out and "1 of 16 values below" in out
    for args, match in ((["--normalize", "cpm", "--background", "mean"], "--background subtracts an nCounter lane's "
                         "negative controls, with --normalize nanostring"),
                        (["--background", "max"], "add --normalize nanostring or remove --background")):
        assert main(["data", "prepare", str(d), "--genes", "all", *args, "--out", str(tmp_path / "bg.h5ad")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and match in err and not (tmp_path / "bg.h5ad").exists()
    # a housekeeping gene at or below the background: refused with the way on, nothing written
    (d / "L5.RCC").write_bytes(lane("L5", 1.0, {"TP53": ("Endogenous", 80), "ESR1": ("Endogenous", 300),
                                                "GAPDH": ("Housekeeping", 15), "ACTB": ("Housekeeping", 900)}))
    assert main(["data", "prepare", str(d), "--genes", "all", "--normalize", "nanostring", "--background", "max",
                 "--out", str(tmp_path / "hk.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "housekeeping gene 'GAPDH' is at or below the background (max of the negative " \
                                    "controls) in lane 'L5'" in err and "use a lower --background (mean) or none" in err
    assert not (tmp_path / "hk.h5ad").exists()
    assert main(["data", "prepare", str(d), "--genes", "all", "--normalize", "nanostring", "--background", "mean",
                 "--out", str(tmp_path / "hk.h5ad")]) == 0   # below the max, above the mean


def test_nsolver_export_reads_as_its_rcc_files(tmp_path, capsys):
    """nSolver's RCC Collector export (lanes as columns: File Name, the lanes' attributes, then CodeClass, Name,
    Accession and a count per lane; the layout of NanoStringQCPro's extdata/nSolver/RCC_collector_tool_export.csv)
    reads as the same lanes' RCC files do: the same counts, code classes and control summaries, so
    --normalize nanostring --background gives the same values; the attributes as obs columns (Sample ID a label);
    a cut line, a non-numeric count and a stray line after the probes refused in one line."""
    import anndata as ad

    lanes = {"20140604_C1_01.RCC": ("unstim", 1.11, [12800, 3200, 11, 15, 7], [623, 3250, 1900, 2300]),
             "20140604_C1_02.RCC": ("unstim", 0.95, [6400, 1650, 9, 21, 4], [310, 2900, 950, 1100]),
             "20140604_C2_01.RCC": ("stim", 1.40, [25000, 6100, 14, 12, 8], [1500, 700, 4100, 4500])}
    probes = [("Positive", "POS_A(128)", "ERCC_00117.1"), ("Positive", "POS_B(32)", "ERCC_00112.1"),
              ("Negative", "NEG_A(0)", "ERCC_00096.1"), ("Negative", "NEG_B(0)", "ERCC_00041.1"),
              ("Negative", "NEG_C(0)", "ERCC_00019.1")]
    genes = [("Endogenous", "TP53", "NM_000546.5"), ("Endogenous", "ESR1", "NM_000125.3"),
             ("Housekeeping", "GAPDH", "NM_002046.3"), ("Housekeeping", "ACTB", "NM_001101.2")]
    d = tmp_path / "rcc"
    d.mkdir()
    for f, (_, _, ctl, cnt) in lanes.items():
        rows = [",".join([*p, str(n)]) for p, n in zip(probes + genes, ctl + cnt)]
        (d / f).write_text("<Header>\nFileVersion,1.7\n</Header>\n<Code_Summary>\nCodeClass,Name,Accession,Count\n"
                           + "\n".join(rows) + "\n</Code_Summary>\n")
    head = [["File Name", "", "", *lanes], ["Description", "", "", "", "", ""],
            ["Sample ID", "", "", *(v[0] for v in lanes.values())], ["Lane ID", "", "", "1", "2", "1"],
            ["Binding Density", "", "", *(str(v[1]) for v in lanes.values())], ["Messages", "", "", "", "", ""]]
    body = [[*p, *(str(v[2 if k < len(probes) else 3][k if k < len(probes) else k - len(probes)])
                   for v in lanes.values())] for k, p in enumerate(probes + genes)]
    order = [body[5], body[0], body[6], body[2], body[7], body[3], body[1], body[8], body[4]]  # classes mixed
    export = tmp_path / "RCC_collector_tool_export.csv"
    export.write_text("\r\n".join(",".join(r) for r in head + order) + "\r\n")
    a, b = read(d), read(export)
    assert list(b.obs_names) == [f[:-4] for f in lanes] and list(b.var_names) == ["TP53", "ESR1", "GAPDH", "ACTB"]
    b = b[list(a.obs_names), list(a.var_names)]
    np.testing.assert_array_equal(a.X, b.X)
    assert a.var["code_class"].tolist() == b.var["code_class"].tolist()
    for c in ("positive_control_geomean", "negative_control_mean", "negative_control_sd", "negative_control_max"):
        np.testing.assert_allclose(a.obs[c].to_numpy(float), b.obs[c].to_numpy(float), rtol=1e-12)
    assert b.obs["Sample ID"].tolist() == ["unstim", "unstim", "stim"] and "Description" not in b.obs.columns
    h = get_history(b)[0]
    assert (h["format"], h["quant_kind"], h["quant_n_control_probes"]) == ("nsolver", "nanostring", 5)
    assert main(["data", "info", str(export)]) == 0
    assert "rnagen data prepare --normalize nanostring removes sequencing depth" in capsys.readouterr().out
    for src, out in ((d, "f.h5ad"), (export, "e.h5ad")):
        assert main(["data", "prepare", str(src), "--genes", "all", "--normalize", "nanostring", "--background",
                     "mean", "--log", "none", "--out", str(tmp_path / out)]) == 0
    capsys.readouterr()
    e = ad.read_h5ad(tmp_path / "e.h5ad")
    np.testing.assert_allclose(ad.read_h5ad(tmp_path / "f.h5ad").X, e[list(a.obs_names), list(a.var_names)].X,
                               rtol=1e-6)
    text = export.read_text()
    bad = {"cut": text.rsplit(",", 1)[0] + "\r\n", "stray": text + "Total,,,1,2,3\r\n",
           "value": text.replace("TP53,NM_000546.5,623", "TP53,NM_000546.5,n/a")}
    match = {"cut": "has 2 counts for 3 lanes", "value": "non-numeric count 'n/a' for probe 'TP53' in lane "
             "'20140604_C1_01.RCC'", "stray": "line 16 ('Total') is neither a lane attribute nor a probe"}
    for name, t in bad.items():
        (tmp_path / "bad.csv").write_text(t)
        assert main(["data", "prepare", str(tmp_path / "bad.csv"), "--genes", "all", "--out",
                     str(tmp_path / "b.h5ad")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and match[name] in err, err
        assert not (tmp_path / "b.h5ad").exists()


def _kallisto_h5(path, ids, counts, eff, *, fixed_strings=False):
    """kallisto quant's abundance.h5 as kallisto writes it (h5dump of a 0.46/0.50 file): aux/ids, aux/lengths,
    aux/eff_lengths, aux/num_bootstrap, est_counts; the ids variable-length strings (fixed-width in older files)."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f["aux/ids"] = np.array(ids, dtype="S") if fixed_strings else np.array(ids, dtype=h5py.string_dtype())
        f["aux/lengths"] = np.full(len(ids), 900, np.int32)
        f["aux/eff_lengths"] = np.asarray(eff, np.float64)
        f["aux/num_bootstrap"] = np.array([0])
        f["aux/kallisto_version"] = np.array(["0.50.1"], dtype=h5py.string_dtype())
        f["est_counts"] = np.asarray(counts, np.float64)


def test_kallisto_h5_folders(tmp_path, capsys):
    """A folder of kallisto's abundance.h5 (without abundance.tsv, as sleuth users keep them): est_counts per
    transcript, TPM computed as kallisto does (rate = count / effective length, scaled to 10^6), samples named by
    their folders; beside abundance.tsv the .tsv is read (the same estimates); a damaged file is one line."""
    tx = ["ENST00000000001.3", "ENST00000000002.1", "ENST00000000003.7"]
    eff = [750.0, 250.0, 1500.0]
    counts = {"s1": [100.0, 50.0, 300.0], "s2": [0.0, 75.5, 30.0]}
    for i, (s, c) in enumerate(counts.items()):
        _kallisto_h5(tmp_path / "kal" / s / "abundance.h5", tx, c, eff, fixed_strings=i == 1)
    a = read(tmp_path / "kal")
    assert list(a.obs_names) == ["s1", "s2"] and list(a.var_names) == tx
    np.testing.assert_array_equal(a.X, np.array(list(counts.values()), np.float32))
    assert get_history(a)[0]["quant_level"] == "transcript"
    assert main(["data", "info", str(tmp_path / "kal")]) == 0   # est_counts are not whole numbers: still counts
    assert "values:    estimated counts (not whole numbers; per-sample totals over its 3 features" in \
        capsys.readouterr().out
    rate = np.array(list(counts.values())) / np.array(eff)
    np.testing.assert_allclose(read(tmp_path / "kal", quantity="tpm").X, 1e6 * rate / rate.sum(1, keepdims=True),
                               rtol=1e-6)
    # the same folder in a tar archive (GEO's RAW.tar of per-sample folders)
    import tarfile

    with tarfile.open(tmp_path / "kal.tar", "w") as t:
        t.add(tmp_path / "kal", arcname="kal")
    np.testing.assert_array_equal(read(tmp_path / "kal.tar").X, a.X)
    # beside abundance.tsv (kallisto quant writes both): the .tsv, not files of two kinds
    for s, c in counts.items():
        rows = ["target_id\tlength\teff_length\test_counts\ttpm"] + [f"{t}\t900\t{e}\t{v}\t1" for t, e, v in
                                                                    zip(tx, eff, c)]
        (tmp_path / "kal" / s / "abundance.tsv").write_text("\n".join(rows) + "\n")
    both = read(tmp_path / "kal")
    assert get_history(both)[0]["quant_kind"] == "kallisto" and np.array_equal(both.X, a.X)
    for s in counts:
        (tmp_path / "kal" / s / "abundance.tsv").unlink()
    (tmp_path / "kal" / "s2" / "abundance.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 40)
    assert main(["data", "prepare", str(tmp_path / "kal"), "--genes", "all", "--out", str(tmp_path / "k.h5ad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable kallisto abundance.h5" in err and "s2" in err
    assert not (tmp_path / "k.h5ad").exists()
