"""Feature identifiers: detect their type and map genes between symbols, Entrez IDs and Ensembl IDs.

Public as :mod:`rnagen.data.genes`; it lives here, below both :mod:`rnagen.data` and :mod:`rnagen.pp`, so the
transforms on AnnData map genes without importing the readers.

The mapping uses only the tables shipped in :mod:`rnagen.datasets`: the 978 L1000 landmarks (all three IDs,
plus the 2017 CMap symbols as aliases), the GTEx v8 protein-coding universe (18,691 genes), and NCBI Gene's
2022 symbols of their renamed genes as aliases (H2BC21 for HIST2H2BE, EPRS1 for EPRS). Genes outside
these tables do not map; :class:`MappingReport` says how many mapped and which landmarks are missing.

Features that are not genes (miRNAs such as ``hsa-let-7a-5p``, array probes, proteins, CpG sites) have the
type ``"other"``: they are valid data wherever no gene mapping is asked for (``--genes all`` or a list of
those features), and a gene mapping on them is a :class:`DataError` naming ``--genes all``. Every ID is
mapped by the pattern it has (an Ensembl ID through the Ensembl table, digits through Entrez, anything else as
a symbol), so a matrix mixing Ensembl IDs and symbols (type ``"mixed"``) loses none of its genes.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from .errors import DataError

__all__ = [
    "IdType",
    "MappingReport",
    "detect_id_type",
    "strip_version",
    "gene_table",
    "map_ids",
    "to_entrez",
    "landmark_entrez",
    "find_landmarks",
    "require_gene_ids",
    "same_gene_groups",
    "looks_like_features",
    "looks_like_probes",
    "spreadsheet_dates",
    "other_species",
    "positional_names",
    "GENE_ID_TYPES",
]

IdType = Literal["symbol", "entrez", "ensembl", "ensembl_versioned", "mixed", "other"]
_ID_TYPES = ("symbol", "entrez", "ensembl", "ensembl_versioned", "mixed", "other")
#: the ID types that name genes (everything but ``"other"``)
GENE_ID_TYPES = ("symbol", "entrez", "ensembl", "ensembl_versioned", "mixed")

# Ensembl gene IDs: ENSG + 11 digits (human), optional version, and GENCODE's "_PAR_Y" suffix for the
# pseudo-autosomal copies on chromosome Y (present in the Xena TOIL and GTEx v8 matrices); in any case (a
# table lower-cased on the way: ensg00000141510), as symbols are matched in any case.
_ENSEMBL_RE = re.compile(r"^ENS[A-Z]*G\d{11}(\.\d+)?(_PAR_Y)?$", re.IGNORECASE)
_ENTREZ_RE = re.compile(r"^\d+$")
_SYMBOL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-@/]*$")
# Feature names that are not genes but are common matrix row names: miRBase miRNAs (hsa-miR-21-5p,
# hsa-let-7a-5p, MIMAT0000062), Illumina 450k/EPIC CpG sites (cg00000029), Illumina and Affymetrix probes
# (ILMN_1343291, 1007_s_at), Ensembl and RefSeq transcripts (ENST00000269305.9, NM_000546.6). Recognising them lets
# the orientation of a table be found from its features.
_FEATURE_RE = re.compile(r"^([a-z]{3}-(miR|mir|let|lin)-[0-9A-Za-z.\-*]+|MIMAT\d{7}|MI\d{7}|c[gh]\d{8}"
                         r"|ILMN_\d+|\d+(_[a-z])?_at|AFFX-[A-Za-z0-9_\-]+"
                         r"|ENS[A-Z]*T\d{11}(\.\d+)?(_PAR_Y)?|[NX][MR]_\d+(\.\d+)?)$")


# microarray probe ids: Affymetrix (1007_s_at, AFFX-BioB-5_at), Illumina (ILMN_1343291), Agilent (A_23_P100001)
_PROBE_RE = re.compile(r"^(\d+(_[a-z])?_at|AFFX-[A-Za-z0-9_\-]+|ILMN_\d+|A_\d+_P\d+)$")


def strip_version(ensembl_id: str) -> str:
    """``"ENSG00000141510.16"`` -> ``"ENSG00000141510"``; a ``_PAR_Y`` suffix, in any case (as IDs are matched),
    is kept as written: the chromosome Y copy is another row than its gene's."""
    s = str(ensembl_id)
    par = s.upper().endswith("_PAR_Y")
    base = s[:-6] if par else s
    base = base.split(".", 1)[0]
    return base + (s[-6:] if par else "")


@functools.lru_cache(maxsize=1)
def gene_table() -> pd.DataFrame:
    """One row per gene: ``entrez_id``, ``symbol``, ``ensembl_id``, ``is_landmark`` (all landmarks included).

    Built from :func:`rnagen.datasets.gene_universe` and :func:`rnagen.datasets.landmarks`; landmark rows win
    where both tables know a gene, so the 4 landmarks missing from the GTEx v8 table still map.
    """
    from . import datasets

    lm = datasets.landmarks()
    uni = datasets.gene_universe()
    lm_t = pd.DataFrame({"entrez_id": lm["entrez_id"], "symbol": lm["symbol"], "ensembl_id": lm["ensembl_id"],
                         "is_landmark": True})
    uni_t = pd.DataFrame({"entrez_id": uni["entrez_id"], "symbol": uni["symbol"], "ensembl_id": uni["ensembl_id"],
                          "is_landmark": False})
    uni_t = uni_t[~uni_t["ensembl_id"].isin(set(lm_t["ensembl_id"])) & ~uni_t["entrez_id"].isin(set(lm_t["entrez_id"]))]
    t = pd.concat([lm_t, uni_t], ignore_index=True)
    # the GTEx v8 universe gives 14 Entrez IDs to two genes each (paralogs: HLA-DQA1 / HLA-DQA2 under 3117, SMN1 /
    # SMN2 under 6606, ...): an ID two genes share cannot say which one a column is, and matching through it
    # picked the first of the pair, so those genes are known by symbol and Ensembl ID only
    e = t["entrez_id"]
    shared = e.notna() & (e.astype(str) != "") & e.duplicated(keep=False)
    t.loc[shared, "entrez_id"] = None
    return t


@functools.lru_cache(maxsize=1)
def _lookups() -> dict[str, dict[str, int]]:
    """For each ID type, a dict from ID to row of :func:`gene_table` (first occurrence wins)."""
    from . import datasets

    t = gene_table()
    out: dict[str, dict[str, int]] = {}
    for col, key in (("entrez_id", "entrez"), ("symbol", "symbol"), ("ensembl_id", "ensembl")):
        d: dict[str, int] = {}
        for i, v in enumerate(t[col].tolist()):
            if isinstance(v, str) and v and v not in d:
                d[v] = i
        out[key] = d
    # older CMap symbols of the landmarks (e.g. TOMM70A -> TOMM70) as aliases
    lm = datasets.landmarks()
    sym = out["symbol"]
    for old, new in zip(lm["symbol_cmap_2017"], lm["symbol"]):
        if isinstance(old, str) and old not in sym:
            sym[old] = sym[new]
    # the other symbol, old or current, of each date-prone gene (below)
    for alias, name in _renamed_symbols().items():
        if name in sym and alias not in sym:
            sym[alias] = sym[name]
    # HGNC's later symbols of the shipped genes (NCBI Gene 2022): a table named with current symbols
    # (GENCODE >= v38, recount3, GDC's STAR counts) keeps its renamed landmarks and targets
    ren = datasets.renamed_symbols()
    for new, old in zip(ren["symbol_ncbi_2022"], ren["symbol"]):
        if old in sym and new not in sym:
            sym[new] = sym[old]
    out["symbol_upper"] = {k.upper(): v for k, v in sym.items()}
    return out


# Gene symbols that spreadsheet programs read as dates (Zeeberg et al. 2004, BMC Bioinformatics 5:80; Ziemann
# et al. 2016, Genome Biology 17:177): SEPT1-SEPT14 become 1-Sep..14-Sep, MARCH1-MARCH11 and MARC1-MARC2 1-Mar..,
# DEC1 1-Dec, SEP15 15-Sep. HGNC renamed them (Bruford et al. 2020, Nature Genetics 52:754: SEPTIN1, MARCHF1,
# MTARC1, DELEC1; SEP15 is SELENOF): the shipped tables, from GTEx v8, use the old symbols.
_DATE_PRONE: dict[tuple[int, int], tuple[str, ...]] = {
    **{(9, d): (f"SEPT{d}",) for d in range(1, 15)},
    (9, 15): ("SEP15",),
    **{(3, d): (f"MARCH{d}",) for d in range(1, 12)},
    (3, 1): ("MARCH1", "MARC1"),
    (3, 2): ("MARCH2", "MARC2"),
    (12, 1): ("DEC1",),
}
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), start=1)}
# how a spreadsheet writes such a date back out: 1-Sep, 01-Sep, 1-Sep-20, 1-Sep-2020 (day first, its default
# display; Sep-01 is a month and a year and is not read), or an ISO date with or without a midnight time (a
# date cell of a workbook read by pandas)
_DAY_MONTH_RE = re.compile(r"^(\d{1,2})-([A-Za-z]{3,4})(-\d{2}|-\d{4})?$")
_ISO_DATE_RE = re.compile(r"^\d{4}-(\d{2})-(\d{2})( 00:00:00)?$")


# Ensembl gene-id prefixes of other species (human: ENSG), and the case of mouse and rat symbols (Gapdh, Trp53;
# MGI and RGD nomenclature) against human's upper case (HGNC)
_ENSEMBL_SPECIES = {"ENSMUSG": "mouse", "ENSRNOG": "rat", "ENSDARG": "zebrafish", "ENSGALG": "chicken",
                    "ENSSSCG": "pig", "ENSBTAG": "cow", "ENSMMUG": "macaque", "ENSCAFG": "dog",
                    "ENSPTRG": "chimpanzee"}
_RODENT_SYMBOL_RE = re.compile(r"^[A-Z][a-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$")


def other_species(ids: Sequence[str]) -> str | None:
    """The species the gene ids name when they are not human: ``"mouse"``, ``"rat"``, ... for another
    species' Ensembl ids (``ENSMUSG...``), ``"mouse or rat"`` for symbols in their case (``Gapdh``, ``Trp53``);
    ``None`` when at least half are neither. The shipped tables are human: landmarks and gene ids map to human
    genes (symbols in any case; orthologs are not checked)."""
    ids = [str(x) for x in ids]
    if not ids:
        return None
    species: dict[str, int] = {}
    for x in ids:
        m = re.match(r"^(ENS[A-Z]*G)\d{11}", x)
        if m and m.group(1) in _ENSEMBL_SPECIES:
            species[_ENSEMBL_SPECIES[m.group(1)]] = species.get(_ENSEMBL_SPECIES[m.group(1)], 0) + 1
    if species:
        name, n = max(species.items(), key=lambda kv: kv[1])
        if n >= 0.5 * len(ids):
            return name
    n_rodent = sum(bool(_RODENT_SYMBOL_RE.match(x)) and any(c.islower() for c in x[1:]) and not
                   any(c.isupper() for c in x[1:]) for x in ids)
    return "mouse or rat" if n_rodent >= 0.5 * len(ids) else None


def _renamed_symbols() -> dict[str, str]:
    """The other symbol of each date-prone gene -> the one the shipped tables use (HGNC's current SEPTIN7 ->
    SEPT7; the old SEP15 -> SELENOF)."""
    out = {f"SEPTIN{d}": f"SEPT{d}" for d in range(1, 15)}
    out.update({f"MARCHF{d}": f"MARCH{d}" for d in range(1, 12)})
    out.update({"MTARC1": "MARC1", "MTARC2": "MARC2", "DELEC1": "DEC1", "SEP15": "SELENOF"})
    return out


def _date_of(x: str) -> tuple[int, int] | None:
    """(month, day) of an identifier written as a spreadsheet's date, else ``None``."""
    m = _DAY_MONTH_RE.match(x)
    if m:
        month = _MONTHS.get(m.group(2).lower()[:3]) if m.group(2).lower() in (*_MONTHS, "sept") else None
        return (month, int(m.group(1))) if month is not None else None
    m = _ISO_DATE_RE.match(x)
    if m:
        return int(m.group(1)), int(m.group(2))
    return None


def spreadsheet_dates(ids: Sequence[str]) -> tuple[dict[int, str], dict[int, tuple[str, ...]]]:
    """Gene symbols a spreadsheet turned into dates, among gene symbols: which can be given back their names.

    A date among identifiers that are otherwise gene symbols (at least half of the others known) is a symbol a
    spreadsheet read as a date: ``1-Sep`` is SEPT1, ``15-Sep`` SEP15, ``4-Mar`` MARCH4, ``1-Dec`` DEC1. ``1-Mar``
    and ``2-Mar`` are each two genes (MARCH1 or MARC1, MARCH2 or MARC2) and cannot be told apart.

    Returns
    -------
    restored, ambiguous
        Position -> the gene's symbol (the shipped tables' spelling: SEP15 is SELENOF); position -> the genes
        it may be. Both empty when the identifiers are not gene symbols or hold no such date.
    """
    ids = [str(x) for x in ids]
    dated = {i: d for i, x in enumerate(ids) if (d := _date_of(x)) is not None}
    if not dated or len(dated) == len(ids):
        return {}, {}
    others = [x for i, x in enumerate(ids) if i not in dated]
    sym = _lookups()["symbol_upper"]
    if sum(x.upper() in sym for x in others) < 0.5 * len(others):
        return {}, {}
    t = gene_table()
    restored: dict[int, str] = {}
    ambiguous: dict[int, tuple[str, ...]] = {}
    for i, d in dated.items():
        genes = _DATE_PRONE.get(d)
        if genes is None:
            continue
        if len(genes) > 1:
            ambiguous[i] = genes
        else:
            r = sym.get(genes[0])
            restored[i] = str(t["symbol"].iat[r]) if r is not None else genes[0]
    return restored, ambiguous


def looks_like_features(ids: Sequence[str]) -> float:
    """Fraction of ``ids`` named like non-gene features of known naming schemes (miRBase miRNAs, CpG sites,
    Illumina/Affymetrix probes, Ensembl/RefSeq transcripts)."""
    ids = [str(x) for x in ids]
    return sum(bool(_FEATURE_RE.match(x)) for x in ids) / len(ids) if ids else 0.0


def positional_names(ids: Sequence[str]) -> bool:
    """Are these feature names the consecutive integers from 0 or 1 (at least 5 of them), i.e. the columns'
    positions, as a table written without its header names them? No gene-id table is so: Entrez ids begin 1, 2,
    3, 9, 10."""
    if len(ids) < 5 or not all(str(x).isdigit() for x in ids):
        return False
    values = sorted(int(x) for x in ids)
    return values[0] in (0, 1) and values[-1] - values[0] == len(values) - 1 and len(set(values)) == len(values)


def detect_id_type(ids: Sequence[str], *, min_fraction: float = 0.8) -> IdType:
    """Detect the type of feature identifiers.

    Parameters
    ----------
    ids
        Feature identifiers (e.g. ``adata.var_names``).
    min_fraction
        Fraction of IDs that must match the pattern of a type (Ensembl: ``ENSG...``, Entrez: digits).
        Symbols are recognised when at least 30% are known symbols of the shipped tables and the rest look
        like symbols.

    Returns
    -------
    str
        ``"ensembl_versioned"``, ``"ensembl"``, ``"entrez"`` or ``"symbol"`` when one type covers the IDs;
        ``"mixed"`` when gene IDs of several types together do (each ID is then mapped by its own pattern);
        ``"other"`` for anything else (miRNAs, probes, proteins, CpG sites: data that need no gene mapping).

    Raises
    ------
    DataError
        If ``ids`` is empty.
    """
    ids = [str(x) for x in ids]
    n = len(ids)
    if n == 0:
        raise DataError("no feature identifiers given; the data need at least one gene or feature")
    if positional_names(ids):
        return "other"   # 0, 1, 2, ...: the columns' positions, which would read as Entrez ids (1 is A1BG)
    is_ens = [bool(_ENSEMBL_RE.match(x)) for x in ids]
    n_ens = sum(is_ens)
    if n_ens >= min_fraction * n:
        n_ver = sum("." in x for x, e in zip(ids, is_ens) if e)
        return "ensembl_versioned" if n_ver >= 0.5 * n_ens else "ensembl"
    n_digits = sum(bool(_ENTREZ_RE.match(x)) for x in ids)
    if n_digits >= min_fraction * n:
        return "entrez"
    if looks_like_features(ids) >= 0.5:
        return "other"
    lk = _lookups()
    ent = lk["entrez"]
    n_known = sum(_symbol_row(x, lk) is not None for x in ids)
    n_like = sum(bool(_SYMBOL_RE.match(x)) for x in ids)
    n_ent_known = sum(x in ent for x in ids)
    if n_known >= 0.3 * n and n_like >= min_fraction * n and n_ens < 0.1 * n and n_digits < 0.1 * n:
        return "symbol"
    # several gene ID types side by side (e.g. Ensembl IDs where a symbol is missing): at least 30% known
    # genes, every other ID shaped like one of the gene types
    n_gene_like = sum(bool(_SYMBOL_RE.match(x) or _ENTREZ_RE.match(x)) for x in ids)
    if n_ens + n_known + n_ent_known >= 0.3 * n and n_gene_like >= min_fraction * n:
        return "mixed"
    return "other"


def looks_like_probes(ids: Sequence[str]) -> bool:
    """Whether at least half of ``ids`` are microarray probe ids (Affymetrix ``1007_s_at``, Illumina
    ``ILMN_1343291``, Agilent ``A_23_P100001``): intensities of an array, which have no sequencing depth and map to
    genes through the platform's annotation."""
    ids = list(ids)
    return bool(ids) and sum(bool(_PROBE_RE.match(str(x))) for x in ids) >= 0.5 * len(ids)


def require_gene_ids(ids: Sequence[str], *, id_type: str, what: str = "gene mapping") -> None:
    """Raise :class:`DataError` naming ``--genes all`` when ``id_type`` is ``"other"`` (not gene IDs)."""
    if id_type == "other":
        ex = ", ".join(repr(str(x)) for x in list(ids)[:3])
        way = ("; these are microarray probes: --feature-map with the platform's annotation maps them to genes "
               "(GEO's GPLxxx.annot.gz, or a GDS SOFT file itself, which names each probe's gene), or use --genes all"
               if looks_like_probes(ids) else "; use --genes all or a list of these features (--genes FILE)")
        kind = ("named by their positions (a table without gene names: its header lost, or written without "
                "column names?)" if positional_names([str(x) for x in ids]) else "of another kind")
        raise DataError(f"{what} needs gene identifiers (symbols, Entrez or Ensembl IDs) but the features are "
                        f"{kind} (e.g. {ex}){way}")


def _check_type(id_type: str) -> None:
    if id_type not in _ID_TYPES:
        raise DataError(f"unknown gene id type {id_type!r}; choose one of {', '.join(_ID_TYPES)}")


def _row(x: str, lk: dict[str, dict[str, int]]) -> int | None:
    """Gene-table row of one ID, looked up by its own pattern (Ensembl, Entrez digits, else symbol)."""
    if _ENSEMBL_RE.match(x):
        return lk["ensembl"].get(strip_version(x).upper())
    if _ENTREZ_RE.match(x):
        return lk["entrez"].get(x)
    return _symbol_row(x, lk)


def _symbol_row(x: str, lk: dict[str, dict[str, int]]) -> int | None:
    """Gene-table row of a symbol: as written, in any case, or with R's make.names undone (it writes HLA-DRA as
    HLA.DRA in a samples x genes data frame saved from R)."""
    r = lk["symbol"].get(x)
    if r is None:
        r = lk["symbol_upper"].get(x.upper())
    if r is None and "." in x:
        r = lk["symbol_upper"].get(x.upper().replace(".", "-"))
    return r


def _rows(ids: Sequence[str], id_type: IdType) -> list[int | None]:
    # each ID by its own pattern: a symbol matrix with a few Ensembl IDs (or the reverse) keeps them all
    require_gene_ids(ids, id_type=id_type)
    lk = _lookups()
    return [_row(str(x), lk) for x in ids]


@dataclass
class MappingReport:
    """How a list of gene IDs mapped onto the shipped tables.

    Attributes
    ----------
    id_type
        Detected (or given) type of the input IDs.
    n_total, n_mapped
        Number of input IDs and how many were found.
    unmapped
        Input IDs that were not found.
    landmarks_found, landmarks_missing
        Count of landmarks among the input, and the symbols of the landmarks that are absent.
    """

    id_type: str
    n_total: int
    n_mapped: int
    unmapped: list[str] = field(default_factory=list)
    landmarks_found: int = 0
    landmarks_missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One-paragraph human summary."""
        miss = ", ".join(self.landmarks_missing[:10]) + (" ..." if len(self.landmarks_missing) > 10 else "")
        return (f"{self.n_mapped}/{self.n_total} {self.id_type} IDs mapped; {self.landmarks_found}/978 landmarks "
                f"present" + (f" (missing: {miss})" if self.landmarks_missing else ""))


def map_ids(ids: Sequence[str], *, to: Literal["symbol", "entrez", "ensembl"],
            id_type: IdType | None = None) -> tuple[list[str | None], MappingReport]:
    """Map gene IDs to another type with the shipped tables.

    Parameters
    ----------
    ids
        Input IDs.
    to
        Target type: ``"symbol"``, ``"entrez"`` or ``"ensembl"`` (unversioned).
    id_type
        Type of ``ids``; detected with :func:`detect_id_type` when ``None``.

    Returns
    -------
    mapped, report
        ``mapped[i]`` is the target ID of ``ids[i]`` or ``None``; ``report`` is a :class:`MappingReport`.
    """
    if to not in ("symbol", "entrez", "ensembl"):
        raise DataError(f"unknown target id type {to!r}; choose symbol, entrez or ensembl")
    ids = [str(x) for x in ids]
    id_type = id_type or detect_id_type(ids)
    _check_type(id_type)
    t = gene_table()
    col = {"symbol": "symbol", "entrez": "entrez_id", "ensembl": "ensembl_id"}[to]
    vals = t[col].tolist()
    rows = _rows(ids, id_type)
    mapped: list[str | None] = []
    for r in rows:
        v = vals[r] if r is not None else None
        mapped.append(v if isinstance(v, str) and v else None)
    found_lm = {r for r in rows if r is not None and bool(t["is_landmark"].iat[r])}
    lm_rows = [i for i, x in enumerate(t["is_landmark"].tolist()) if x]
    missing = [t["symbol"].iat[i] for i in lm_rows if i not in found_lm]
    rep = MappingReport(id_type=id_type, n_total=len(ids), n_mapped=sum(m is not None for m in mapped),
                        unmapped=[i for i, m in zip(ids, mapped) if m is None],
                        landmarks_found=len(found_lm), landmarks_missing=missing)
    return mapped, rep


def to_entrez(ids: Sequence[str], *, id_type: IdType | None = None) -> list[str | None]:
    """Entrez ID of each input ID (``None`` where unknown)."""
    return map_ids(ids, to="entrez", id_type=id_type)[0]


def gene_keys(ids: Sequence[str], *, id_type: IdType | None = None) -> list[str | None]:
    """A key per input ID that two IDs of one gene share, whatever their types: the gene's Entrez ID, or for a
    gene the tables know without one (paralogs sharing an Entrez ID, :func:`gene_table`) its row in the table;
    ``None`` where the tables do not know the ID. What matching across ID types compares."""
    ids = [str(x) for x in ids]
    id_type = id_type or detect_id_type(ids)
    _check_type(id_type)
    ent = gene_table()["entrez_id"].tolist()
    out: list[str | None] = []
    for r in _rows(ids, id_type):
        if r is None:
            out.append(None)
        else:
            e = ent[r]
            out.append(e if isinstance(e, str) and e else f"row:{r}")
    return out


def landmark_entrez() -> list[str]:
    """The 978 landmark Entrez IDs, in the order of the shipped landmark table."""
    from . import datasets

    return datasets.landmarks()["entrez_id"].tolist()


def find_landmarks(ids: Sequence[str], *, id_type: IdType | None = None) -> tuple[list[int], MappingReport]:
    """Positions in ``ids`` of the landmark genes, in landmark-table order, and the mapping report."""
    ids = [str(x) for x in ids]
    entrez, rep = map_ids(ids, to="entrez", id_type=id_type)
    pos: dict[str, int] = {}
    for i, e in enumerate(entrez):
        if e is not None and e not in pos:
            pos[e] = i
    idx = [pos[e] for e in landmark_entrez() if e in pos]
    return idx, rep


def same_gene_groups(ids: Sequence[str], *, id_type: IdType | None = None) -> list[list[int]]:
    """Groups of positions in ``ids`` that name the same gene (e.g. ``TP53`` and ``tp53``, an Ensembl ID and
    its symbol, two versions of one Ensembl ID, also of a gene the shipped tables do not know: a lncRNA of two
    GENCODE releases), each group in input order; empty for ``"other"`` IDs. A ``_PAR_Y`` copy is its own row
    (:func:`strip_version`)."""
    ids = [str(x) for x in ids]
    id_type = id_type or detect_id_type(ids)
    if id_type == "other":
        return []
    groups: dict[int | str, list[int]] = {}
    for i, r in enumerate(_rows(ids, id_type)):
        if r is not None:
            groups.setdefault(r, []).append(i)
        elif _ENSEMBL_RE.match(ids[i]):
            groups.setdefault(strip_version(ids[i]).upper(), []).append(i)
    return [v for v in groups.values() if len(v) > 1]


def _name_key(x: str) -> str:
    """An ID as matched by name, without spaces around it (a list typed by hand, a cell padded by a spreadsheet):
    an Ensembl ID without its version, in upper case (Ensembl IDs are matched in any case); an Entrez ID written as
    a float (``7157.0``, a numeric column that once held a missing value) as its digits; any other name as it
    is."""
    x = x.strip()
    if _ENSEMBL_RE.match(x):
        return strip_version(x).upper()
    m = _FLOAT_ENTREZ_RE.match(x)
    return m.group(1) if m else x


_FLOAT_ENTREZ_RE = re.compile(r"^(\d+)\.0$")


def match_genes(requested: Sequence[str], var_names: Sequence[str], *, unique: bool = False,
                where: str = "the data") -> list[int | None]:
    """Position in ``var_names`` of each requested gene, or ``None``.

    Exact matches first; then by name less an Ensembl ID's version, in any case (a dot in another name,
    ``RP11-34P13.3`` or ``AC000061.1``, is part of it, and ``RP11-34P13.7`` another gene; Entrez IDs written as
    floats, ``7157.0``, as their digits); the rest through Entrez IDs with the shipped gene tables
    (:mod:`rnagen.data.genes`), so symbols find Entrez or Ensembl columns and vice versa.

    With ``unique``, a requested gene that several columns of ``var_names`` name is a :class:`DataError` naming
    those columns (``where``: the data's name in it): a repeated name, ``tp53`` beside ``7157`` for ``TP53``
    through the tables, or two versions of an Ensembl ID asked for without that version (``ENSG00000141510``
    against ``ENSG00000141510.16`` and ``ENSG00000141510.17``, files of two GENCODE releases merged); otherwise
    the first of them is taken.
    """
    req = [str(r) for r in requested]
    var = [str(v) for v in var_names]
    named: dict[str, list[int]] = {}   # the columns of each name (several: var_names repeat it)
    keyed: dict[str, list[int]] = {}   # the columns of each name less its version (several: versions of one ID)
    for i, v in enumerate(var):
        named.setdefault(v, []).append(i)
        keyed.setdefault(_name_key(v), []).append(i)
    hits: list[int | None] = []
    shared: list[tuple[str, list[int]]] = []
    for r in req:
        cols = named.get(r) or keyed.get(_name_key(r))
        hits.append(cols[0] if cols else None)
        if cols and len(cols) > 1:
            shared.append((r, cols))
    todo = [k for k, h in enumerate(hits) if h is None]
    if todo:
        try:
            vent = gene_keys([_name_key(v) for v in var])
            rent = gene_keys([_name_key(req[k]) for k in todo])
        except DataError:  # IDs of no known type (e.g. "gene_1"): only exact matches count
            vent, rent = [], []
        epos: dict[str, list[int]] = {}
        for i, e in enumerate(vent):
            if e is not None:
                epos.setdefault(e, []).append(i)
        for k, e in zip(todo, rent):
            if e is not None and e in epos:
                hits[k] = epos[e][0]
                if len(epos[e]) > 1:
                    shared.append((req[k], epos[e]))
    if unique and shared:
        _refuse_shared(shared, var, where)
    return hits


def _refuse_shared(shared: list[tuple[str, list[int]]], var: list[str], where: str) -> None:
    """The :class:`DataError` of :func:`match_genes` for requested genes that several columns name (``shared``:
    each requested ID with its columns); two versions of one Ensembl ID get their own way on, the versioned ID."""
    r, cols = shared[0]
    names = " and ".join(repr(var[i][:40]) for i in cols[:3])
    more = f"; {len(shared)} genes so" if len(shared) > 1 else ""
    if all(_ENSEMBL_RE.match(var[i]) for i in cols) and len({var[i] for i in cols}) == len(cols) and \
            len({_name_key(var[i]) for i in cols}) == 1:
        raise DataError(f"{r!r} matches {len(cols)} versions of one Ensembl id in {where} ({names}{more}), so which "
                        f"column to take is unknown; give the versioned id (e.g. {var[cols[-1]]!r}) or drop one of "
                        f"the columns (rnagen data prepare --duplicates first|mean|sum keeps one per gene)")
    raise DataError(f"{where} names {len(shared)} gene{'s' if len(shared) > 1 else ''} in more than one "
                    f"column (e.g. {r!r} as {names}), so which column to take is unknown; keep one column "
                    f"per gene (rnagen data prepare --duplicates first|mean|sum), or remove the extra columns")
