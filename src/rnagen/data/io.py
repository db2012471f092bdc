"""Readers that turn expression files into validated, labelled AnnData (obs = samples, var = genes).

Supported: ``.h5ad``, CSV/TSV (optionally gzipped; samples x genes or genes x samples), GCT 1.2/1.3 and
parquet. Every reader ends in :func:`validate`, so a returned object has finite values, unique sample and gene
IDs and, when asked, a categorical label column.
"""
from __future__ import annotations

import csv
import gzip
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .._io import atomic_path
from ..errors import DataError
from . import genes as _genes

__all__ = ["read", "read_labels", "write_gct", "validate", "detect_orientation", "Orientation"]

Orientation = Literal["auto", "samples_x_genes", "genes_x_samples"]
_ORIENTATIONS = ("auto", "samples_x_genes", "genes_x_samples")


def _format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for ext, fmt in ((".h5ad", "h5ad"), (".gct", "gct"), (".parquet", "parquet"), (".pq", "parquet"),
                     (".csv", "csv"), (".tsv", "tsv"), (".txt", "tsv"), (".tab", "tsv")):
        if name.endswith(ext):
            return fmt
    return "text"


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _sniff_sep(path: Path) -> str:
    with _open_text(path) as fh:
        line = fh.readline()
    return "\t" if line.count("\t") >= line.count(",") and "\t" in line else ","


def _sep_for(path: Path, fmt: str, sep: str | None) -> str:
    if sep is not None:
        return sep
    if fmt == "csv":
        return ","
    return _sniff_sep(path)


def _gene_score(ids: Sequence[str]) -> float:
    """Fraction of ``ids`` that look like gene IDs (0 if no type is recognised)."""
    ids = [str(x) for x in ids]
    if not ids:
        return 0.0
    try:
        t = _genes.detect_id_type(ids)
    except DataError:
        return 0.0
    if t == "entrez":
        # sample IDs can be plain numbers too; only count numbers that are known Entrez IDs
        _, rep = _genes.map_ids(ids, to="entrez", id_type="entrez")
        return rep.n_mapped / len(ids)
    return 1.0


def detect_orientation(row_ids: Sequence[str], col_ids: Sequence[str]) -> Literal["samples_x_genes", "genes_x_samples"]:
    """Decide whether a table is samples x genes or genes x samples.

    Gene-like identifiers (symbols, Entrez or Ensembl IDs) on exactly one axis decide; otherwise the axis
    with more entries is taken as genes (bulk RNA-seq matrices have far more genes than samples).
    """
    r, c = _gene_score(row_ids), _gene_score(col_ids)
    if c >= 0.5 > r or (c >= 0.5 and r >= 0.5 and c > r):
        return "samples_x_genes"
    if r >= 0.5 > c or (c >= 0.5 and r >= 0.5 and r > c):
        return "genes_x_samples"
    return "samples_x_genes" if len(col_ids) >= len(row_ids) else "genes_x_samples"


def _numeric_columns(df: pd.DataFrame) -> tuple[list, list]:
    num, other = [], []
    for c in df.columns:
        (num if pd.api.types.is_numeric_dtype(df[c].dtype) and not pd.api.types.is_bool_dtype(df[c].dtype)
         else other).append(c)
    return num, other


def _first_bad_value(s: pd.Series) -> str:
    conv = pd.to_numeric(s, errors="coerce")
    bad = s[conv.isna() & s.notna()]
    return f"{bad.iloc[0]!r} (row {bad.index[0]!r})" if len(bad) else "?"


def _frame_to_adata(df: pd.DataFrame, *, orientation: Orientation, source: str, label_key: str | None = None):
    """A table with IDs in the index -> AnnData, splitting numeric data from annotation columns."""
    import anndata as ad

    df.index = df.index.map(str)
    df.columns = df.columns.map(str)
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise DataError(f"{source}: no data rows or columns found; check the separator (--sep) and the file format")
    if orientation not in _ORIENTATIONS:
        raise DataError(f"unknown orientation {orientation!r}; choose one of {', '.join(_ORIENTATIONS)}")
    num, other = _numeric_columns(df)
    if orientation == "auto" and label_key is not None and label_key in other:
        # a non-numeric column named by the label key: rows are samples, whatever the ids look like
        orient = "samples_x_genes"
    elif orientation == "auto":
        orient = detect_orientation(list(df.index), num or list(df.columns))
    else:
        orient = orientation
    if orient == "samples_x_genes":
        # non-numeric columns are sample annotations (labels, splits), unless they are named like genes:
        # then a stray string broke a gene column
        gene_like = [c for c in other if _gene_score([c]) > 0 and len(other) < len(df.columns) / 2]
        if gene_like and num:
            c = gene_like[0]
            raise DataError(f"{source}: gene column {c!r} has a non-numeric value {_first_bad_value(df[c])}; "
                            f"fix or remove that value")
        if not num:
            raise DataError(f"{source}: no numeric expression columns found; check the separator (--sep) "
                            f"and that the first column holds sample IDs")
        X = df[num].to_numpy(dtype=np.float64)
        obs = df[other].copy()
        for c in obs.columns:
            obs[c] = obs[c].astype("category")
        var = pd.DataFrame(index=pd.Index(num))
    else:
        # genes x samples: non-numeric columns are gene annotations (e.g. symbol, Description)
        if not num:
            raise DataError(f"{source}: no numeric sample columns found; check the separator (--sep)")
        X = df[num].to_numpy(dtype=np.float64).T
        var = df[other].astype(str).copy()
        obs = pd.DataFrame(index=pd.Index(num))
    obs.index.name = None
    var.index.name = None
    with warnings.catch_warnings():
        # duplicated names are reported by validate() as a DataError; anndata's warning would only repeat it
        warnings.simplefilter("ignore", UserWarning)
        adata = ad.AnnData(X=X.astype(np.float32), obs=obs, var=var)
    return adata, orient


def _read_table(path: Path, *, fmt: str, sep: str | None, orientation: Orientation, label_key: str | None = None):
    source = path.name
    if fmt == "parquet":
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises many types for a bad file
            raise DataError(f"{source}: not a readable parquet file ({type(e).__name__}: {str(e).splitlines()[0]}); "
                            f"re-export it") from e
        if isinstance(df.index, pd.RangeIndex) and df.shape[1] and not pd.api.types.is_numeric_dtype(df.iloc[:, 0]):
            df = df.set_index(df.columns[0])
        return _frame_to_adata(df, orientation=orientation, source=source, label_key=label_key)
    s = _sep_for(path, fmt, sep)
    try:
        df = pd.read_csv(path, sep=s, index_col=0, dtype={0: str}, compression="infer")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError, OSError) as e:
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise DataError(f"{source}: malformed {fmt.upper()} file ({msg}); every row needs the same number of "
                        f"{'tab' if s == chr(9) else repr(s)}-separated fields") from e
    with _open_text(path) as fh:
        header = next(csv.reader([fh.readline().rstrip("\r\n")], delimiter=s), [])
    seen, dups = set(), []
    for h in header[1:]:
        if h in seen:
            dups.append(h)
        seen.add(h)
    if df.index.name is not None and _gene_score([str(df.index.name)]) > 0 and \
            pd.to_numeric(pd.Series(df.index), errors="coerce").notna().all():
        # no sample-id column: the first header field is a gene, so the first column holds data
        df = df.reset_index()
        df.index = pd.Index([f"sample_{i}" for i in range(len(df))])
        df.iloc[:, 0] = pd.to_numeric(df.iloc[:, 0])
        df[df.columns[0]] = df[df.columns[0]].astype(np.float64)
    adata, orient = _frame_to_adata(df, orientation=orientation, source=source, label_key=label_key)
    if dups:
        # pandas renames repeated header fields ("TP53" -> "TP53.1"); catch them from the raw header
        axis = "gene" if orient == "samples_x_genes" else "sample"
        raise DataError(f"{source}: duplicated {axis} ids ({len(dups)}, e.g. {dups[0]!r}); make the {axis} ids "
                        f"unique (or aggregate duplicated {axis}s) before reading")
    return adata, orient


def _read_gct(path: Path):
    """GCT 1.2 (``Name``, ``Description``, samples) or 1.3 (row and column metadata), genes x samples."""
    import anndata as ad

    source = path.name
    try:
        with _open_text(path) as fh:
            version = fh.readline().strip()
            dims = fh.readline().split()
            if version not in ("#1.2", "#1.3"):
                raise DataError(f"{source}: not a GCT file (first line {version[:20]!r}, expected '#1.2' or '#1.3'); "
                                f"fix the header or save it as CSV/TSV")
            try:
                dims_i = [int(x) for x in dims]
            except ValueError:
                dims_i = []
            if (version == "#1.2" and len(dims_i) < 2) or (version == "#1.3" and len(dims_i) < 4):
                raise DataError(f"{source}: malformed GCT dimension line {' '.join(dims)!r}; expected "
                                f"'rows cols' (1.2) or 'rows cols row-meta col-meta' (1.3)")
            n_rows, n_cols = dims_i[0], dims_i[1]
            n_rmeta = 1 if version == "#1.2" else dims_i[2]
            n_cmeta = 0 if version == "#1.2" else dims_i[3]
            header = next(csv.reader([fh.readline().rstrip("\r\n")], delimiter="\t"))
            if len(header) != 1 + n_rmeta + n_cols:
                raise DataError(f"{source}: GCT header has {len(header)} fields, expected {1 + n_rmeta + n_cols} "
                                f"(id, {n_rmeta} row-metadata, {n_cols} samples); fix the dimension line")
            dup = pd.Index(header[1 + n_rmeta:])[pd.Index(header[1 + n_rmeta:]).duplicated()]
            if len(dup):
                raise DataError(f"{source}: duplicated sample ids ({len(dup)}, e.g. {dup[0]!r}); make the sample ids "
                                f"unique before reading")
            cmeta = {}
            for _ in range(n_cmeta):
                f = fh.readline().rstrip("\r\n").split("\t")
                cmeta[f[0]] = f[1 + n_rmeta:]
            df = pd.read_csv(fh, sep="\t", header=None, names=header, index_col=0, dtype={header[0]: str},
                             keep_default_na=True)
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError, StopIteration) as e:
        raise DataError(f"{source}: malformed GCT file ({str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}); "
                        f"every row needs {1 + n_rmeta + n_cols} tab-separated fields") from e
    if df.shape[0] != n_rows:
        raise DataError(f"{source}: GCT says {n_rows} rows but has {df.shape[0]}; fix the dimension line")
    samples = header[1 + n_rmeta:]
    vals = df[samples]
    bad = [c for c in samples if not pd.api.types.is_numeric_dtype(vals[c].dtype)]
    if bad:
        raise DataError(f"{source}: sample column {bad[0]!r} has a non-numeric value {_first_bad_value(vals[bad[0]])}; "
                        f"fix or remove that value")
    var = df[header[1:1 + n_rmeta]].astype(str).copy()
    var.columns = [c.lower() if c == "Description" else c for c in var.columns]
    if "description" in var.columns and (var["description"].isin(["na", "NA", "nan", ""]).all()
                                         or (var["description"] == var.index).all()):
        var = var.drop(columns="description")
    var.index = var.index.map(str)
    var.index.name = None
    obs = pd.DataFrame(index=pd.Index([str(s) for s in samples]))
    for k, v in cmeta.items():
        if len(v) != len(samples):
            raise DataError(f"{source}: GCT column-metadata line {k!r} has {len(v)} values for {len(samples)} samples")
        num = pd.to_numeric(pd.Series(v), errors="coerce")
        obs[k] = num.to_numpy() if num.notna().all() else pd.Categorical(v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicated ids: validate() raises a DataError
        return ad.AnnData(X=vals.to_numpy(dtype=np.float64).T.astype(np.float32), obs=obs, var=var)


def read_labels(path: str | os.PathLike, obs_names: Sequence[str], *, label_key: str | None = None,
                sep: str | None = None) -> tuple[str, pd.Categorical]:
    """Read sample labels from an annotation file.

    Two layouts are accepted: a table with a sample-ID column and a label column (the column named
    ``label_key`` if given, else the second column; rows matched by sample ID), or a single column of labels
    in sample order (with or without a header line).

    Returns
    -------
    name, labels
        The label name (column header, ``label_key`` or ``"label"``) and the labels aligned to ``obs_names``.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"label file {str(p)!r} does not exist; check the --labels path")
    s = _sep_for(p, _format(p), sep)
    try:
        raw = pd.read_csv(p, sep=s, header=None, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"label file {p.name}: malformed ({str(e).strip().splitlines()[-1]}); give a CSV/TSV with "
                        f"sample id and label columns, or one label per line") from e
    obs_names = [str(x) for x in obs_names]
    n = len(obs_names)
    if raw.shape[1] == 1:
        vals = raw[0].tolist()
        if len(vals) == n + 1:
            name, vals = vals[0], vals[1:]
        elif len(vals) == n:
            name = label_key or "label"
        else:
            raise DataError(f"label file {p.name}: {len(vals)} labels for {n} samples; give one label per sample "
                            f"in sample order, or a table with sample ids")
        name = label_key or name
        return name, pd.Categorical(vals)
    first = raw.iloc[0].tolist()
    has_header = first[0] not in set(obs_names)
    table = raw.iloc[1:] if has_header else raw
    cols = first if has_header else [f"col{i}" for i in range(raw.shape[1])]
    table = table.set_axis(cols, axis=1)
    if label_key is not None and has_header:
        if label_key not in cols[1:]:
            raise DataError(f"label column {label_key!r} not in label file {p.name} (columns: {', '.join(cols[1:])}); "
                            f"pass --label-key with one of these")
        name = label_key
    else:
        name = label_key or (cols[1] if has_header else "label")
    col = name if has_header else cols[1]
    ids = table[cols[0]].astype(str)
    if ids.duplicated().any():
        raise DataError(f"label file {p.name}: sample id {ids[ids.duplicated()].iloc[0]!r} appears twice; "
                        f"keep one row per sample")
    m = dict(zip(ids, table[col]))
    missing = [o for o in obs_names if o not in m]
    if missing:
        raise DataError(f"label file {p.name}: no label for {len(missing)} of {n} samples (e.g. {missing[0]!r}); "
                        f"add them or check that the first column holds the sample ids")
    return name, pd.Categorical([m[o] for o in obs_names])


def validate(adata, *, label_key: str | None = None, source: str = "data") -> None:
    """Check an AnnData for finite values, unique IDs and (optionally) a label column.

    Raises
    ------
    DataError
        Naming the problem (NaN/inf with the first position, duplicated IDs, missing label column) and the fix.
    """
    X = adata.X
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    if X.size == 0:
        raise DataError(f"{source}: empty matrix ({adata.n_obs} samples x {adata.n_vars} genes); give a file with data")
    if not np.issubdtype(X.dtype, np.number):
        raise DataError(f"{source}: expression values are not numeric; fix the file")
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        n_nan, n_inf = int(np.isnan(X).sum()), int(np.isinf(X).sum())
        raise DataError(f"{source}: {n_nan} NaN and {n_inf} inf values (first at sample {adata.obs_names[i]!r}, "
                        f"gene {adata.var_names[j]!r}); impute or remove them before reading")
    for axis, names in (("sample", adata.obs_names), ("gene", adata.var_names)):
        dup = pd.Index(names)[pd.Index(names).duplicated()]
        if len(dup):
            raise DataError(f"{source}: duplicated {axis} ids ({len(dup)}, e.g. {dup[0]!r}); make the {axis} ids unique "
                            f"(or aggregate duplicated {axis}s) before reading")
    if label_key is not None and label_key not in adata.obs.columns:
        cols = ", ".join(map(str, adata.obs.columns)) or "none"
        raise DataError(f"{source}: label column {label_key!r} not found (sample columns: {cols}); pass --label-key "
                        f"with one of these or give a --labels file")


def read(path: str | os.PathLike, *, label_key: str | None = None, labels: str | os.PathLike | None = None,
         orientation: Orientation = "auto", sep: str | None = None):
    """Read an expression file into AnnData (obs = samples, var = genes).

    Parameters
    ----------
    path
        ``.h5ad``, ``.csv``/``.tsv``/``.txt`` (optionally ``.gz``), ``.gct`` (1.2 or 1.3, optionally ``.gz``)
        or ``.parquet``.
    label_key
        Name of the sample-label column. For samples x genes tables, the non-numeric column of that name; for
        GCT 1.3 a column-metadata row; for h5ad an ``obs`` column. With ``labels``, the column of the label
        file to use (and the name of the ``obs`` column). The labels end up categorical in
        ``obs[label_key]``.
    labels
        Separate annotation file: CSV/TSV with sample id and label columns, or one label per line in sample
        order.
    orientation
        ``"auto"`` (detect: gene-like IDs on one axis, else genes outnumber samples), ``"samples_x_genes"`` or
        ``"genes_x_samples"``; text and parquet only (GCT is always genes x samples).
    sep
        Field separator for text files; by default ``,`` for ``.csv`` and sniffed (tab or comma) otherwise.

    Returns
    -------
    anndata.AnnData
        float32 ``X``; for non-h5ad input ``uns["rnagen"]["history"]`` starts with a ``read`` step (an
        ``.h5ad`` keeps the history it was written with).

    Raises
    ------
    DataError
        For a missing or malformed file, NaN/inf values, duplicated sample or gene IDs, or a missing label
        column.
    """
    from ..pp.history import record

    p = Path(path)
    if not p.exists():
        raise DataError(f"input file {str(p)!r} does not exist; check the path")
    fmt = _format(p)
    orient = "genes_x_samples"
    if fmt == "h5ad":
        import anndata as ad

        try:
            adata = ad.read_h5ad(p)
        except Exception as e:  # h5py raises OSError/KeyError for broken files
            raise DataError(f"{p.name}: not a readable .h5ad file ({type(e).__name__}); re-create it") from e
        orient = "samples_x_genes"
        if adata.X is not None and hasattr(adata.X, "toarray"):
            adata.X = adata.X.toarray()
        if adata.X is not None and adata.X.dtype != np.float32:
            adata.X = np.asarray(adata.X, dtype=np.float32)
    elif fmt == "gct":
        adata = _read_gct(p)
    else:
        adata, orient = _read_table(p, fmt=fmt, sep=sep, orientation=orientation, label_key=label_key)
    if labels is not None:
        name, lab = read_labels(labels, adata.obs_names, label_key=label_key, sep=None)
        adata.obs[name] = lab
        label_key = name
    if label_key is not None and label_key in adata.obs.columns:
        adata.obs[label_key] = adata.obs[label_key].astype(str).astype("category")
    validate(adata, label_key=label_key, source=p.name)
    if fmt == "h5ad":
        # the canonical format already carries its history; reading it again is not a transform
        return adata
    record(adata, "read", path=str(p.name), format=fmt, orientation=orient,
           label_key=label_key, n_obs=adata.n_obs, n_vars=adata.n_vars)
    return adata


def write_gct(adata, path: str | os.PathLike, *, version: Literal["1.2", "1.3"] = "1.2",
              description: str | None = None, obs_keys: Sequence[str] = ()) -> Path:
    """Write ``adata`` as a GCT file (genes x samples), atomically; ``.gz`` suffix gzips it.

    Parameters
    ----------
    version
        ``"1.2"`` (``Name``, ``Description``, samples) or ``"1.3"`` (adds column metadata rows).
    description
        ``var`` column written as the ``Description`` field (``"na"`` when ``None``).
    obs_keys
        ``obs`` columns written as column metadata (GCT 1.3 only).
    """
    if version not in ("1.2", "1.3"):
        raise DataError(f"unknown GCT version {version!r}; choose '1.2' or '1.3'")
    if obs_keys and version == "1.2":
        raise DataError("column metadata (obs_keys) needs GCT version 1.3")
    X = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    genes = [str(g) for g in adata.var_names]
    samples = [str(s) for s in adata.obs_names]
    desc = adata.var[description].astype(str).tolist() if description else ["na"] * len(genes)
    buf = io.StringIO()
    if version == "1.2":
        buf.write(f"#1.2\n{len(genes)}\t{len(samples)}\n")
        buf.write("\t".join(["Name", "Description", *samples]) + "\n")
    else:
        buf.write(f"#1.3\n{len(genes)}\t{len(samples)}\t1\t{len(obs_keys)}\n")
        buf.write("\t".join(["id", "Description", *samples]) + "\n")
        for k in obs_keys:
            buf.write("\t".join([k, "na", *map(str, adata.obs[k].tolist())]) + "\n")
    body = pd.DataFrame(X.T, index=genes, columns=samples)
    body.insert(0, "Description", desc)
    # repr-exact floats: float32 values written with 9 significant digits read back bit-identical
    body.to_csv(buf, sep="\t", header=False, float_format="%.9g")
    data = buf.getvalue().encode("utf-8")
    dest = Path(path)
    with atomic_path(dest) as tmp:
        if dest.name.lower().endswith(".gz"):
            with gzip.open(tmp, "wb", compresslevel=6) as fh:
                fh.write(data)
        else:
            tmp.write_bytes(data)
    return dest
