"""Helpers shared by the CLI modules."""
from __future__ import annotations


def recorded_label_key(path: str) -> str | None:
    """The label column a prepared file (or a bundled data set) records, ``None`` where it records none."""
    from .. import datasets
    from ..data.io import recorded_label_key as recorded

    return datasets.load(path).uns.get("rnagen", {}).get("label_key") if datasets.is_bundled(path) else recorded(path)


def _columns_of(path: str) -> str:
    """`` (its sample columns: a, b)`` for the error that asks for a label column, ``""`` where the file holds none
    or cannot be read (its own error comes when the command reads it)."""
    try:
        adata = read_input(path)
    except Exception:   # only a hint on an error path: the file's own error comes when it is read
        return ""
    return columns_hint([str(c) for c in adata.obs.columns], adata)


#: the most classes a column of whole numbers read as a gene is offered as the labels with
CLASS_CODES_MAX = 50


def class_code_genes(adata) -> list[tuple[str, list[str]]]:
    """The features of ``adata`` that read as class codes rather than expression values: each holds whole numbers
    only, 2 to :data:`CLASS_CODES_MAX` of them (at most one per two samples), where the other features' values
    are mostly fractions (log values, TPM, z-scores). A table of samples x genes whose class column holds codes
    (0, 1, 2) is read with that column as a gene unless ``--label-key`` names it; in a table of whole-number
    counts such a column cannot be told from a gene and none is named. Each with its first distinct values."""
    import numpy as np
    import scipy.sparse as sp

    n = adata.n_obs
    if n < 4 or adata.n_vars < 3:
        return []
    rows = min(n, 2000)   # the codes of the first samples, a block of features at a time: no copy of a wide matrix
    whole = np.zeros(adata.n_vars, dtype=bool)
    for start in range(0, adata.n_vars, 2048):
        X = adata.X[:rows, start:start + 2048]
        X = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)
        whole[start:start + X.shape[1]] = np.all(np.isfinite(X) & (X == np.round(X)), axis=0)
    if whole.mean() > 0.1:   # counts, or many whole-number features: a code column is no different from a gene
        return []
    out = []
    for j in np.flatnonzero(whole):
        col = adata.X[:rows, j]
        values = np.unique(np.asarray(col.toarray() if sp.issparse(col) else col, dtype=np.float64))
        if 2 <= len(values) <= min(CLASS_CODES_MAX, rows // 2):
            out.append((str(adata.var_names[j]), [f"{v:g}" for v in values[:5]]))
    return out


def class_codes_hint(adata) -> str:
    """The features of ``adata`` that read as class codes (:func:`class_code_genes`), each with its first values,
    and the ``--label-key`` that takes the first as the labels; ``""`` where there are none."""
    codes = class_code_genes(adata)
    if not codes:
        return ""
    listed = ", ".join(f"{g[:30]!r} holds whole numbers ({', '.join(v)}{', ...' if len(v) == 5 else ''})"
                       for g, v in codes[:3])
    return (f"{listed} where the other features hold fractions: class codes read as a gene? --label-key "
            f"{codes[0][0]} takes them as the labels")


def columns_hint(cols: list[str], adata=None) -> str:
    """`` (its sample columns: a, b)``, or how to add labels where there is no column, for an error that asks for
    a label column; with ``adata``, the features that read as class codes (:func:`class_code_genes`) named too."""
    hint = class_codes_hint(adata) if adata is not None else ""
    coded = f"; {hint}" if hint else ""
    if not cols:
        return f" (it holds no sample column: add the labels with rnagen data prepare --labels FILE{coded})"
    return (f" (its sample columns: {', '.join(repr(c[:30]) for c in cols[:10])}{', ...' if len(cols) > 10 else ''}"
            f"{coded})")


def label_key_or_recorded(label_key: str | None, path: str, *, option: str = "DATA") -> str:
    """``--label-key``, or the label column ``path`` records (said on one line); neither is an error naming both
    ways on."""
    from ..errors import DataError

    if label_key is not None:
        return label_key
    key = recorded_label_key(path)
    if key is None:
        raise DataError(f"{option} {path} records no label column; pass --label-key with the column holding the "
                        f"classes{_columns_of(path)} (rnagen data prepare --label-key records it)")
    print(f"labels: {key!r} (the label column recorded in {option})")
    return key


def read_input(path: str, *, label_key: str | None = None, labels: str | None = None, **kw):
    """:func:`rnagen.data.read`, or a bundled data set by name (``gtex26``) when no such file exists."""
    from .. import datasets
    from ..data import read, read_labels, validate
    from ..errors import DataError

    if datasets.is_bundled(path):
        if kw.get("quantity", "counts") != "counts" or kw.get("strand", "auto") != "auto" or kw.get("layer") or \
                kw.get("sheet") or kw.get("sample_names") or kw.get("recount_qc"):
            raise DataError("--quantity, --strand, --layer, --sheet, --sample-names and --recount-qc apply to other "
                            "inputs (a folder of per-sample files, an .h5ad, an .xlsx, your own data); remove them "
                            f"for {path}")
        adata = datasets.load(path)  # complete: kw's missing-value handling has nothing to do
        if labels is not None:
            name, lab = read_labels(labels, adata.obs_names, label_key=label_key)
            adata.obs[name] = lab
            label_key = name
        if label_key is not None and label_key in adata.obs.columns and kw.get("drop_unlabelled"):
            from ..data.io import missing_labels

            adata = adata[~missing_labels(adata.obs[label_key].astype(object).to_numpy())].copy()
        validate(adata, label_key=label_key, source=path)
        return adata
    return read(path, label_key=label_key, labels=labels, **kw)
