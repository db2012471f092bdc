"""One fit searches each matrix it holds profiles out of for copies of one profile (:mod:`rnagen.pp.copies`) once:
the validation split, the principal-component space's choice and halves, a refit and every member of a mixture
share the search of the training profiles, and fit what a search at each of those steps fits, to the last bit.
Copies that carry two classes are warned of once per fit, with their sample ids, as the data split warns of them."""
import hashlib
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

import rnagen.pp.copies as copies
from rnagen.models import get_model
from rnagen.models._base import Generator

TINY = {"diffusion": ["network.width=16", "network.depth=1", "network.time_dim=8", "schedule.T=50",
                      "sample.steps=5", "train.batch_size=32", "train.steps=40", "train.val_every=20"],
        "vae": ["network.hidden=[16]", "network.latent_dim=4", "train.batch_size=32", "train.steps=20"],
        "wgan-gp": ["network.generator_hidden=[16]", "network.critic_hidden=[16]", "train.batch_size=32",
                    "train.steps=10", "sample.noise=0.1"]}
#: the diffusion model on wide profiles: the principal-component space (auto), two members, each refitted
WIDE_DIFFUSION = [*TINY["diffusion"], "preprocess.log=none", "train.members=2", "train.refit=true"]


def _wide(n: int = 150, g: int = 400, *, seed: int = 2, mixed: bool = False) -> ad.AnnData:
    """Profiles of 3 classes in a few directions plus gene noise, fewer than the genes (``preprocess.space=auto``
    takes the principal components), with two exact copies and a near copy of profiles of their own class; with
    ``mixed``, one more exact copy labelled with another class."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = np.hstack([rng.normal(size=(3, 2))[y] * 2.0, rng.normal(size=(n, 1))]) @ (rng.normal(size=(3, g)) * 0.4)
    X += rng.normal(size=(n, g))
    X[3], X[6] = X[0], X[9]                       # every row a multiple of 3 is of class a: exact copies
    X[12] = X[15] + 1e-4 * rng.normal(size=g)     # class a: a near copy
    if mixed:
        X[4], y[4] = X[1], 2                      # s4 (class b) a copy of s1 (class b), labelled c
    labels = np.array(["a", "b", "c"])[y]
    return ad.AnnData(X.astype(np.float32), obs=pd.DataFrame({"label": pd.Categorical(labels)},
                                                            index=[f"s{i}" for i in range(n)]),
                      var=pd.DataFrame(index=[f"g{j}" for j in range(g)]))


def _counting(monkeypatch) -> list[str]:
    """A digest of the float64 values of each matrix the copy search is run on, one per search."""
    searched: list[str] = []
    find = copies._find

    def counted(X, **kw):
        searched.append(hashlib.sha256(X.take(slice(None)).tobytes()).hexdigest())
        return find(X, **kw)

    monkeypatch.setattr(copies, "_find", counted)
    return searched


def _fit(model: str, overrides: list[str], adata: ad.AnnData) -> Generator:
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        return get_model(model).from_config(overrides=overrides).fit(adata, label_key="label", seed=0, progress=False)


def _arrays(m: Generator) -> dict[str, np.ndarray]:
    """Every array a fitted model holds that its fit decides (weights, the space's codec, each member's), and its
    draws."""
    out = {}
    for k, part in enumerate([m, *getattr(m, "members", ())]):
        for name in ("net", "gan", "codec", "guide"):
            module = getattr(part, name, None)
            if isinstance(module, torch.nn.Module):
                out.update({f"{k}.{name}.{p}": v.detach().cpu().numpy().copy()
                            for p, v in module.state_dict().items()})
    out["draws"] = np.asarray(m.sample(n_per_label=6, seed=3).X)
    return out


@pytest.mark.parametrize("model, overrides, searches", [
    # X, and each member's training part in the space's halves (the members' hold-outs differ by their seeds)
    ("diffusion", WIDE_DIFFUSION, 3),
    ("vae", [*TINY["vae"], "preprocess.log=none"], 2),    # X; the validation split of its scores
    ("wgan-gp", [*TINY["wgan-gp"], "preprocess.log=none"], 2),   # the same (a fixed output noise: no hold-out)
])
def test_one_fit_searches_its_training_profiles_for_copies_once_and_fits_what_a_search_per_step_fits(
        monkeypatch, model, overrides, searches):
    adata = _wide()
    searched = _counting(monkeypatch)
    once = _fit(model, overrides, adata)
    assert len(searched) == searches and len(set(searched)) == searches   # no matrix searched twice
    if model == "diffusion":
        assert once.codec is not None and len(once.members) == 1 and once.validation["refit_steps"] > 0
    # a search at each step that holds profiles out (as every step searched its profiles on its own): the same fit
    searched.clear()
    monkeypatch.setattr(Generator, "_copy_groups", lambda self, X: copies.copy_labels(X))
    each = _fit(model, overrides, adata)
    assert len(searched) > searches and len(set(searched)) == searches
    a, b = _arrays(once), _arrays(each)
    assert a.keys() == b.keys() and len(a) > 1
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert once.validation == each.validation and once.subspace == each.subspace


def test_the_fit_keeps_no_reference_to_its_training_profiles():
    m = _fit("diffusion", WIDE_DIFFUSION, _wide())
    assert m._fit_copies is None and all(p._fit_copies is None for p in m.members)


def test_copies_labelled_with_two_classes_are_warned_of_once_per_fit_with_their_sample_ids():
    """The validation split keeps s1 and its copy s4 on one side under s1's class: warned of once for the whole
    fit (two members, each with its own split and refit), as the data split does; copies of one class are not."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit("diffusion", WIDE_DIFFUSION, _wide(mixed=True))
    said = [str(w.message) for w in caught if "several sample ids" in str(w.message)]
    assert said == ["1 profile(s) appear under several sample ids with different labels (e.g. 's1' labelled 'b' "
                    "and its copy 's4' labelled 'c'): the validation split keeps each such profile's copies on one "
                    "side, stratified as its first sample's class; one profile with two labels is a data error: "
                    "correct the labels or remove the copies (rnagen data info names them)"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        _fit("wgan-gp", [*TINY["wgan-gp"], "preprocess.log=none"], _wide())
