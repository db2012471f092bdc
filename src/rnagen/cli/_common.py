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
        cols = [str(c) for c in read_input(path).obs.columns]
    except Exception:   # only a hint on an error path: the file's own error comes when it is read
        return ""
    return columns_hint(cols)


def columns_hint(cols: list[str]) -> str:
    """`` (its sample columns: a, b)``, or how to add labels where there is no column, for an error that asks for
    a label column."""
    if not cols:
        return " (it holds no sample column: add the labels with rnagen data prepare --labels FILE)"
    return f" (its sample columns: {', '.join(repr(c[:30]) for c in cols[:10])}{', ...' if len(cols) > 10 else ''})"


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
