"""The numbers behind the report's figures, computed by the benchmark and saved next to its results.

The report draws; it computes nothing (``rnagen.report`` only reads what is written here). Every figure's
data lives in ``OUT/plots/``:

``real.npz``        the real reference: PCA basis (fitted on real training profiles), 2-D coordinates of the
                    real training profiles and their labels, gene-gene correlation of the most variable genes,
                    per-gene mean and variance
``<row>.npz``       the same quantities for one benchmark row's synthetic set (first seed), projected on the
                    real PCA basis (and the real UMAP when umap-learn is installed)
``tstr_per_class.json``  per-class recall of a classifier trained on each synthetic set, tested on real test
``steps_curve.json`` quality of DDIM and DPM-Solver++ samples against the number of sampling steps, with the
                    real training profiles' (the ceiling) and the Gaussian floor's values scored alike
``recon_<method>.npz``   per-gene R² of each reconstruction method on held-out real profiles
``biology_<row>.npz``    biological fidelity of one row's synthetic set (first seed) against the real training
                    profiles: per class and gene the log2 fold change and BH q-value of each set (class vs
                    rest), per-class co-expression edge recovery, and the top genes of the classifier
                    trained on each set (:meth:`RealReference.biology_arrays`)

All statistics are taken in a log scale (``log2(x+1)`` unless the data already are log-scale), where
expression values are comparable across genes.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..pp.prepare import dense, is_logged, to_log_scale

#: number of most variable genes shown in the correlation heat maps
N_CORR_GENES = 50
#: profiles drawn in a scatter plot at most (per set), so the report stays small
MAX_POINTS = 3000


def plot_space(adata, *, logged: bool | None = None) -> tuple[np.ndarray, bool]:
    """Dense float64 matrix in log scale (:func:`rnagen.pp.to_log_scale`), and whether the input was already
    log-scale (``logged``: decided by :func:`rnagen.pp.is_logged` when not given)."""
    X = dense(adata.X, dtype=np.float64)
    if logged is None:
        logged = is_logged(adata, X=X)
    return to_log_scale(X, logged=logged)[0], bool(logged)


def _subsample(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, MAX_POINTS, replace=False)) if n > MAX_POINTS else np.arange(n)


def _corr(X: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        C = np.corrcoef(X, rowvar=False)
    return np.nan_to_num(C, nan=0.0).astype(np.float32)


class RealReference:
    """PCA basis, correlation genes and summary statistics of the real training profiles."""

    def __init__(self, train, test, *, label_key: str, seed: int = 0):
        from sklearn.decomposition import PCA

        self.label_key = label_key
        Xtr, self.logged = plot_space(train)
        Xte, _ = plot_space(test, logged=self.logged)
        self.labels = [str(c) for c in train.obs[label_key].cat.categories] \
            if hasattr(train.obs[label_key], "cat") else sorted(set(train.obs[label_key].astype(str)))
        self.Xtr, self.Xte = Xtr, Xte
        self.ytr = train.obs[label_key].astype(str).to_numpy()
        self.yte = test.obs[label_key].astype(str).to_numpy()
        self.pca = PCA(n_components=2, random_state=seed).fit(Xtr)
        var = Xtr.var(axis=0)
        self.corr_genes = np.sort(np.argsort(-var, kind="stable")[: min(N_CORR_GENES, Xtr.shape[1])])
        self.var_names = np.asarray([str(v) for v in train.var_names])
        self.seed = seed
        self.umap = None
        try:  # optional dependency: UMAP is drawn only when umap-learn is installed
            import umap

            self.umap = umap.UMAP(n_components=2, random_state=seed).fit(Xtr)
        except ImportError:
            pass
        # features of the per-class TSTR view: standardised real-PCA coordinates (fast and well conditioned)
        n_comp = int(min(50, Xtr.shape[0] - 1, Xtr.shape[1]))
        self.pca_clf = PCA(n_components=n_comp, random_state=seed).fit(Xtr)
        Ztr = self.pca_clf.transform(Xtr)
        self.scaler_mean, self.scaler_std = Ztr.mean(axis=0), Ztr.std(axis=0) + 1e-8

    def arrays(self) -> dict[str, np.ndarray]:
        """The real training profiles' plot data: 2-D PCA (and UMAP) of a subsample with labels, the correlation
        matrix of the most variable genes, per-gene mean and variance (the same seed gives the same subsample)."""
        rng = np.random.default_rng(self.seed)
        idx = _subsample(len(self.Xtr), rng)
        out = {
            "pca": self.pca.transform(self.Xtr[idx]).astype(np.float32),
            "pca_explained": self.pca.explained_variance_ratio_.astype(np.float32),
            "labels": np.asarray(self.ytr[idx], dtype=str),
            "label_order": np.asarray(self.labels, dtype=str),
            "corr": _corr(self.Xtr[:, self.corr_genes]),
            "corr_genes": self.var_names[self.corr_genes],
            "mean": self.Xtr.mean(axis=0).astype(np.float32),
            "var": self.Xtr.var(axis=0).astype(np.float32),
        }
        if self.umap is not None:
            out["umap"] = np.asarray(self.umap.transform(self.Xtr[idx]), dtype=np.float32)
        return out

    def synthetic_arrays(self, syn) -> dict[str, np.ndarray]:
        """The same plot data for a synthetic set ``syn``, projected on the real profiles' PCA (and UMAP) basis.

        Non-finite values are set to 0 for the plots and counted in ``n_nonfinite``.
        """
        Xs, _ = plot_space(syn, logged=self.logged)
        ys = syn.obs[self.label_key].astype(str).to_numpy()
        rng = np.random.default_rng(self.seed + 1)
        idx = _subsample(len(Xs), rng)
        finite = np.isfinite(Xs).all(axis=1)
        Xs_f = np.where(np.isfinite(Xs), Xs, 0.0)
        out = {
            "pca": self.pca.transform(Xs_f[idx]).astype(np.float32),
            "labels": np.asarray(ys[idx], dtype=str),
            "corr": _corr(Xs_f[:, self.corr_genes]),
            "mean": Xs_f.mean(axis=0).astype(np.float32),
            "var": Xs_f.var(axis=0).astype(np.float32),
            "n_nonfinite": np.asarray(int((~finite).sum())),
        }
        if self.umap is not None:
            out["umap"] = np.asarray(self.umap.transform(Xs_f[idx]), dtype=np.float32)
        return out

    def per_class_tstr(self, X_train: np.ndarray, y_train: np.ndarray, *, seed: int) -> dict[str, Any]:
        """Recall per class on real test of a logistic regression trained on ``X_train`` (log scale).

        A cheap, deterministic per-class view for the report; the headline TSTR numbers come from
        :func:`rnagen.metrics.evaluate`.
        """
        from sklearn.linear_model import LogisticRegression

        Xtr = (self.pca_clf.transform(np.nan_to_num(X_train)) - self.scaler_mean) / self.scaler_std
        Xte = (self.pca_clf.transform(self.Xte) - self.scaler_mean) / self.scaler_std
        clf = LogisticRegression(max_iter=1000, C=1.0, random_state=seed)
        if len(set(y_train)) < 2:
            pred = np.full(len(Xte), y_train[0])
        else:
            clf.fit(Xtr, y_train)
            pred = clf.predict(Xte)
        per = {}
        for lab in self.labels:
            m = self.yte == lab
            per[lab] = float((pred[m] == lab).mean()) if m.any() else float("nan")
        return {"per_class": per, "accuracy": float((pred == self.yte).mean())}

    def step_quality(self, syn, *, seed: int, k: int = 10) -> dict[str, float]:
        """Quality of one synthetic set for the steps curve, under registry names, computed with the array
        functions of ``rnagen.metrics`` in this reference's log space (not z-scored, unlike ``evaluate``).

        ``tstr_logreg_accuracy`` is :meth:`per_class_tstr`'s accuracy (a logistic regression on the standardised
        real-PCA coordinates); ``frechet_pca`` is taken in a PCA space fitted on the real training profiles, so
        it does not depend on the set being judged.
        """
        from .. import metrics

        Xs, _ = plot_space(syn, logged=self.logged)
        Xs = np.nan_to_num(Xs)
        ys = syn.obs[self.label_key].astype(str).to_numpy()
        out: dict[str, float] = {}
        out["tstr_logreg_accuracy"] = self.per_class_tstr(Xs, ys, seed=seed)["accuracy"]
        out["correlation_score"] = float(metrics.correlation_score(self.Xte, Xs))
        p = metrics.prdc(self.Xte, Xs, k=min(k, len(self.Xte) - 1))
        out.update({key: float(p[key]) for key in ("precision", "recall", "density", "coverage")})
        out["frechet_pca"] = float(metrics.frechet_distance(self.Xte, Xs, space="pca", fit_on=self.Xtr))
        return out

    def biology_arrays(self, syn, *, top_k: int = 10, min_class: int = 10) -> dict[str, np.ndarray]:
        """The biology figures' data for a synthetic set ``syn`` against the real training profiles (log scale,
        as every figure): DE of each class vs the rest in both sets (Welch + BH, the
        :class:`rnagen.metrics.biology.BiologyOptions` defaults), co-expression edge recovery per class with at
        least ``min_class`` profiles in both sets, and the ``top_k`` genes per class of a logistic regression
        trained on each set (on genes standardised with the real training statistics)."""
        from ..metrics import biology as B

        o = B.BiologyOptions()
        Xs, _ = plot_space(syn, logged=self.logged)
        Xs = np.nan_to_num(Xs)
        ys = syn.obs[self.label_key].astype(str).to_numpy()
        classes = B.shared_classes(self.ytr, ys)
        out: dict[str, np.ndarray] = {"classes": np.asarray(classes, dtype=str), "genes": self.var_names,
                                      "fdr": np.asarray(o.fdr), "min_lfc": np.asarray(o.min_lfc)}
        if not classes:
            return out
        for tag, X, y in (("real", self.Xtr, self.ytr), ("syn", Xs, ys)):
            de = B.differential_expression(X, y, classes=classes, test=o.de_test, fdr=o.fdr, min_lfc=o.min_lfc)
            out[f"lfc_{tag}"], out[f"q_{tag}"] = de.lfc.astype(np.float32), de.q  # q in float64: tiny q-values
        own = B.shared_classes(self.ytr, ys, min_n=min_class)
        rec = [B.coexpression_recovery(self.Xtr[self.ytr == c], [Xs[ys == c]], threshold=o.coexpr_threshold)[0]
               for c in own]
        out["coexpr_classes"] = np.asarray(own, dtype=str)
        out["coexpr"] = np.asarray([[r["coexpr_edge_precision"], r["coexpr_edge_recall"], r["coexpr_edge_f1"]]
                                    for r in rec], dtype=np.float32).reshape(len(own), 3)
        mu, sd = self.Xtr.mean(0), self.Xtr.std(0) + 1e-8
        conc = B.classifier_concordance((self.Xtr - mu) / sd, self.ytr, (Xs - mu) / sd, ys, top_k=top_k,
                                        classes=classes, seed=self.seed)
        pc = conc["per_class"]
        out["top_real"] = np.asarray([self.var_names[pc[c]["top_real"]] for c in classes], dtype=str)
        out["top_syn"] = np.asarray([self.var_names[pc[c]["top_synthetic"]] for c in classes], dtype=str)
        out["jaccard"] = np.asarray([pc[c]["concordance_jaccard"] for c in classes], dtype=np.float32)
        return out
