"""Which genes are inputs: the landmarks, a list, or a genes file; matched to ``var_names`` of any ID type."""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from .._genes import match_genes
from ..errors import DataError

__all__ = ["read_genes_file", "match_genes", "resolve_inputs", "require_genes"]

def read_genes_file(path: str | os.PathLike) -> list[str]:
    """Gene IDs from a text file: one per line (first field of a CSV/TSV line); ``#`` comments, blank lines
    and a header line (``gene``, ``symbol``, ``entrez_id``, ...) skipped (:func:`rnagen.data.io.read_gene_list`)."""
    from ..data.io import read_gene_list

    return read_gene_list(path, what="genes file", hint="give 'landmarks' or a file with one gene ID per line")


def _preview(names: Sequence[str], k: int = 8) -> str:
    names = list(names)
    return ", ".join(names[:k]) + (f", ... ({len(names) - k} more)" if len(names) > k else "")


def require_genes(requested: Sequence[str], var_names: Sequence[str], *, what: str, where: str,
                  fix: str = "give data holding them (a reconstructor maps the genes it was fitted on, every one)"
                  ) -> list[int]:
    """Positions of all ``requested`` genes in ``var_names``; :class:`DataError` naming the missing ones and
    ``fix``, the way on, or a gene the tables match to several columns (which one to take is unknown)."""
    hits = match_genes(requested, var_names, unique=True, where=where)
    missing = [r for r, h in zip(requested, hits) if h is None]
    if missing:
        raise DataError(f"{len(missing)} of the {len(requested)} {what} are missing from {where}: "
                        f"{_preview(missing)}; {fix}")
    return [h for h in hits if h is not None]  # every one: the missing ones raised above


def resolve_inputs(inputs: str | Sequence[str] | os.PathLike, var_names: Sequence[str], *,
                   where: str = "the training data") -> tuple[list[int], dict]:
    """Positions of the input genes in ``var_names`` and a report.

    ``"landmarks"`` takes the L1000 landmarks present (in landmark-table order; absent landmarks are
    reported, not an error, because public matrices lack a few, e.g. 4 in GTEx v8); a list or a genes file
    must be present in full.
    """
    var = [str(v) for v in var_names]
    if isinstance(inputs, str) and inputs == "landmarks":
        from .. import _genes as g

        try:
            idx, _ = g.find_landmarks(var)
        except DataError:
            idx = []
        if not idx:
            raise DataError(f"none of the 978 L1000 landmark genes found among the {len(var)} genes of {where}; "
                            f"check the gene IDs or give the input genes as a file (--inputs GENES_FILE)")
        ent = g.to_entrez([var[i] for i in idx])
        found = {e for e in ent if e is not None}
        from .. import datasets

        tab = datasets.landmarks()
        missing = [s for e, s in zip(tab["entrez_id"], tab["symbol"]) if e not in found]
        return list(idx), {"selection": "landmarks", "n_requested": 978, "n_inputs": len(idx),
                           "missing": missing}
    if isinstance(inputs, (bytes, Mapping)) or not isinstance(inputs, (str, os.PathLike, Iterable)):
        raise DataError(f"inputs must be 'landmarks', a list of gene ids or the path of a genes file (one id a line), "
                        f"not {type(inputs).__name__}")
    if isinstance(inputs, (str, os.PathLike)):
        req = read_genes_file(inputs)
        sel = str(inputs)
    else:
        req = [str(x) for x in inputs]
        sel = "list"
    if not req:
        raise DataError("empty input gene list; give at least one gene ID")
    seen, uniq = set(), []
    for r in req:
        if r not in seen:
            seen.add(r)
            uniq.append(r)
    idx = require_genes(uniq, var, what="input genes", where=where,
                        fix="take them out of the --inputs list, or fit on data that holds them")
    if len(set(idx)) != len(idx):
        first: dict[int, str] = {}
        for r, i in zip(uniq, idx):
            if i in first:
                raise DataError(f"the input gene list names the same gene twice under different IDs ({first[i]!r} and "
                                f"{r!r}: {str(var[i])!r} of the data); remove one of them")
            first[i] = r
    return idx, {"selection": sel, "n_requested": len(uniq), "n_inputs": len(idx), "missing": []}
