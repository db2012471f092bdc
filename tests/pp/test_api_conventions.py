"""API conventions of the public data/pp functions: AnnData (or path) first, options keyword-only, documented."""
import inspect

import pytest

import rnagen.data as data
import rnagen.data.fetch as fetch
import rnagen.data.genes as genes
import rnagen.pp as pp

# positional parameters allowed by the documented signatures (besides the first argument)
ALLOWED_POSITIONAL = {
    ("select_genes", "genes"), ("fit_scaler", "method"), ("normalize_depth", "method"), ("filter_classes", "label_key"),
    ("check_labels", "label_key"), ("class_counts", "label_key"), ("read_labels", "obs_names"),
    ("read_sample_names", "obs_names"),
    ("write_gct", "path"), ("download", "dest"), ("convert_tcga", "phenotype"), ("convert_gtex", "attributes"),
    ("file_checksum", "algo"), ("record", "step"), ("map_features", "mapping"),
}

FUNCS = [(m.__name__, n, getattr(m, n)) for m in (pp, data, fetch, genes) for n in m.__all__
         if inspect.isfunction(getattr(m, n))]


@pytest.mark.parametrize("mod,name,fn", FUNCS, ids=[f"{m}.{n}" for m, n, _ in FUNCS])
def test_keyword_only_options_and_docstring(mod, name, fn):
    assert (fn.__doc__ or "").strip(), f"{mod}.{name} has no docstring"
    params = list(inspect.signature(fn).parameters.values())[1:]
    for p in params:
        if p.kind is p.POSITIONAL_OR_KEYWORD:
            assert (name, p.name) in ALLOWED_POSITIONAL, f"{mod}.{name}({p.name}) should be keyword-only"
