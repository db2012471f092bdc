"""Inputs of real files that the readers' number, date and GCT rules could misread (an adversarial review)."""
from __future__ import annotations

import numpy as np
import pytest

from rnagen.data import read
from rnagen.errors import DataError


@pytest.mark.parametrize("sep, dec", [(",", "."), (";", ",")])
def test_a_sample_row_of_two_dates_and_missing_values_is_a_record_not_a_row_of_dates(tmp_path, sep, dec):
    """Samples as rows with two date columns (collected, processed) and a sample whose gene values are all
    missing: its record holds dates and no number, yet its dates stand in the columns the other samples' dates make
    columns of dates, so it is a sample of the table (its missing values named as such, prepared with --missing),
    never refused as a row of dates among the genes."""
    from rnagen.cli.main import main

    def v(x):
        return str(x).replace(".", dec)

    lines = [sep.join(["sample", "collected", "processed", "TP53", "EGFR"])]
    for i in range(6):
        vals = ["NA", "NA"] if i == 2 else [v(1.5 + i), v(2.25 + i)]
        lines.append(sep.join([f"S{i}", f"1{i}.03.2021", f"1{i}.04.2021", *vals]))
    p = tmp_path / "two.csv"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"^two.csv: 2 NaN and 0 inf values \(first at sample 'S2', gene 'TP53'\)"):
        read(p)
    out = tmp_path / "two.h5ad"
    assert main(["data", "prepare", str(p), "--missing", "drop", "--max-missing", "0.5", "--genes", "all",
                 "--out", str(out)]) == 0
    import anndata as ad

    a = ad.read_h5ad(out)
    assert list(a.obs_names) == ["S0", "S1", "S3", "S4", "S5"]
    assert list(a.obs["collected"]) == ["10.03.2021", "11.03.2021", "13.03.2021", "14.03.2021", "15.03.2021"]
    # a genes x samples row of dates (no date column elsewhere) is still the labels or refused
    g = tmp_path / "gxs.csv"
    g.write_text(sep.join(["gene", "S0", "S1"]) + "\n" + sep.join(["date", "12.03.2021", "13.03.2021"]) + "\n"
                 + "".join(sep.join([f"G{k}", v(1.5 + k), v(2.5 + k)]) + "\n" for k in range(3)))
    assert list(read(g, label_key="date").obs["date"]) == ["12.03.2021", "13.03.2021"]
    with pytest.raises(DataError, match=r"row 'date' \(line 2\) holds dates for the samples"):
        read(g)
    np.testing.assert_allclose(read(g, label_key="date").X, [[1.5, 2.5, 3.5], [2.5, 3.5, 4.5]])


def test_a_gct_description_of_symbols_for_most_genes_and_words_for_others_is_kept_as_the_description(tmp_path):
    """A GCT Description that holds a symbol for most genes and free text for one (a probe's annotation where it has
    no symbol) is the description, every value as written; one of symbols alone (GTEx's) is var['symbol']."""
    ids = ["ENSG00000141510", "ENSG00000146648", "ENSG00000136997", "ENSG00000012048", "ENSG00000139618"]
    desc = ["TP53", "EGFR", "MYC", "BRCA1", "breast cancer 2, early onset"]
    body = "".join(f"{g}\t{d}\t{k}\t{k + 1}\n" for k, (g, d) in enumerate(zip(ids, desc)))
    p = tmp_path / "mixed.gct"
    p.write_text(f"#1.2\n5\t2\nName\tDescription\ts1\ts2\n{body}")
    a = read(p)
    assert "symbol" not in a.var.columns and list(a.var["description"]) == desc
    np.testing.assert_array_equal(a.X, [[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])
    q = tmp_path / "symbols.gct"
    q.write_text("#1.2\n5\t2\nName\tDescription\ts1\ts2\n" + body.replace(desc[-1], "BRCA2"))
    b = read(q)
    assert list(b.var["symbol"]) == [*desc[:4], "BRCA2"] and "description" not in b.var.columns


@pytest.mark.parametrize("depth", [995, 100_000])
def test_a_parquet_record_nested_too_deep_is_set_aside_with_a_warning(tmp_path, depth):
    """A parquet file whose 'rnagen' metadata key holds JSON nested deeper than the interpreter's recursion limit
    (another tool's value, or a crafted file) reads by value with the one-line warning that sets the record aside,
    never a RecursionError."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pd.DataFrame({"sample": ["s1", "s2", "s3"], "TP53": [100.0, 2000.0, 5.0], "EGFR": [3.0, 4.0, 50.0]})
    t = pa.Table.from_pandas(df, preserve_index=False)
    rec = ('{"log": ' + "[" * depth + "]" * depth + "}").encode()
    p = tmp_path / "deep.parquet"
    pq.write_table(t.replace_schema_metadata({**t.schema.metadata, b"rnagen": rec}), p)
    with pytest.warns(UserWarning, match=r"^deep.parquet: rnagen's record in the file's metadata \(key 'rnagen'\) "
                                         r"is nested deeper than any record of rnagen's: the record is set aside"):
        a = read(p)
    np.testing.assert_array_equal(a.X, [[100, 3], [2000, 4], [5, 50]])
    assert "log" not in a.uns["rnagen"]
