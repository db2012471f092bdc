"""Hyperparameter search with Optuna: one study per model and data set, shared through an RDB storage.

Each trial draws a configuration from the model's search space (:mod:`rnagen.tune.spaces`), trains it on
the training split, samples as many profiles as the validation split holds (same label mix) and scores them
(:mod:`rnagen.tune.objective`). Trials of torch models are evaluated at the budget's rungs (e.g. a quarter
of the steps, then all of them) and Optuna's median pruner stops a trial whose early score is below the
median of earlier trials at the same rung.

Storage: a local SQLite file by default (nothing to set up). With ``postgresql://user@host/db`` several
``rnagen tune`` processes, on as many machines, share one study: Optuna hands each a new trial number from
the database, and the TPE sampler's "constant liar" keeps concurrent workers from proposing the same
configuration. A worker stopped by Ctrl-C or SIGTERM marks its trial failed on the way out; one killed outright
(``kill -9``, a lost machine) is detected by its missing heartbeat, and its trial marked failed when a worker
next starts a trial after the grace period (3 minutes).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import describe_os_error, make_folders
from ..config import build_config, check_number, check_seed, write_config
from ..errors import ConfigError, DataError, DivergedError, OutputError, RnagenError
from ..pp.prepare import dense, is_logged
from ..utils import check_device, one_warning_each
from .objective import DIVERGED, Scores, check_objective, objective_value, score_synthetic
from .spaces import Budget, get_budget, has_train_section, suggest

DEFAULT_STORAGE = "sqlite:///rnagen-tune.db"

__all__ = ["tune", "open_study", "best_config", "write_best_config", "normalise_storage", "split_validation",
           "DEFAULT_STORAGE"]


def normalise_storage(url: str | None) -> str:
    """Turn a user's storage URL into one SQLAlchemy can open.

    ``None`` gives the default SQLite file in the current folder. ``postgresql://`` (or ``postgres://``)
    is pointed at the ``psycopg2`` driver when psycopg 3 is not installed (SQLAlchemy 2.1 otherwise
    expects psycopg 3 and fails with an unhelpful import error).
    """
    if url is None or url == "":
        return DEFAULT_STORAGE
    url = str(url)
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            try:
                import psycopg2  # noqa: F401
            except ImportError:
                raise ConfigError(
                    "a postgresql:// storage needs a PostgreSQL driver: pip install psycopg2-binary "
                    "(or pip install 'rnagen[postgres]')"
                ) from None
            url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    if "://" not in url:
        raise ConfigError(f"storage {url!r} is not a database URL; use sqlite:///FILE.db or "
                          "postgresql://USER@HOST:PORT/DB")
    return url


def _storage(url: str):
    import optuna
    import sqlalchemy.exc
    from optuna.storages import RDBStorage

    engine_kwargs: dict[str, Any] = {}
    db_file = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    new_file = db_file is not None and not db_file.exists()
    if url.startswith("postgresql"):
        engine_kwargs["pool_pre_ping"] = True  # survive a server restart between long trials
    if db_file is not None and not new_file:
        _refuse_foreign_sqlite(db_file)
    attempts = 6
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                # heartbeats: a trial whose worker died (kill -9, lost machine) is marked FAIL after the
                # grace period instead of staying RUNNING forever
                return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=60, grace_period=180)
        except ImportError as e:
            raise ConfigError(f"cannot open storage {url!r}: {e}") from None
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.InternalError):
            # Workers started together on a fresh database race to create Optuna's tables (PostgreSQL:
            # "duplicate key value violates unique constraint pg_type_typname_nsp_index"); the loser
            # retries after a short, jittered wait and then finds the tables in place.
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1) + 0.3 * np.random.default_rng().random())
        except Exception as e:  # OperationalError etc.: an unreachable or misnamed database
            if isinstance(e, optuna.exceptions.OptunaError):
                raise
            refused = _db_refused(url, str(e))
            if db_file is not None and new_file:   # the empty database SQLite created as it failed is not left
                for f in (db_file, db_file.with_name(db_file.name + "-journal")):
                    f.unlink(missing_ok=True)
            if refused is not None:
                raise refused from None
            raise ConfigError(f"cannot open storage {url!r}: {str(e).splitlines()[0]}") from None
    raise AssertionError("unreachable")


#: the tables Optuna's RDB storage creates (``optuna.storages._rdb.models``)
_OPTUNA_TABLES = frozenset({
    "studies", "version_info", "study_directions", "study_user_attributes", "study_system_attributes", "trials",
    "trial_user_attributes", "trial_system_attributes", "trial_params", "trial_values", "trial_intermediate_values",
    "trial_heartbeats", "alembic_version"})


def _refuse_foreign_sqlite(db_file: Path) -> None:
    """Refuse a SQLite file that holds tables and no Optuna study (another program's database, the user's own):
    opening it as the storage would add Optuna's tables to it. A file SQLite cannot read as a database is left to
    the opening, which names it."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"{db_file.resolve().as_uri()}?mode=ro", uri=True)) as con:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    except (sqlite3.Error, OSError, ValueError):
        return
    # none of Optuna's tables: a study's file another worker is creating this moment holds some of them already
    if tables and set(tables).isdisjoint(_OPTUNA_TABLES):
        shown = ", ".join(sorted(tables)[:5]) + (f", ... ({len(tables) - 5} more)" if len(tables) > 5 else "")
        raise OutputError(f"study database {db_file} is a SQLite database of something else (tables: {shown}), not "
                          "an Optuna study's; Optuna would add its tables to it: name another file with --storage "
                          "sqlite:///FILE.db")


def _db_refused(url: str, message: str) -> OutputError | None:
    """The one-line error of a SQLite study database ``url`` the file system refuses (``message``: SQLite's), with
    its fix; ``None`` for another storage or failure."""
    if not url.startswith("sqlite:///"):
        return None
    why = _sqlite_file_error(Path(url.removeprefix("sqlite:///")), message)
    return None if why is None else OutputError(f"study database: {why} (or name another with --storage "
                                                "sqlite:///FILE.db)")


def _sqlite_file_error(db_file: Path, message: str) -> str | None:
    """What the file system refuses of the SQLite file ``db_file`` whose opening failed with ``message``, as one
    line with its fix (:func:`rnagen._io.describe_os_error`); ``None``: a failure of another kind."""
    import errno

    if "disk is full" in message or ("disk I/O error" in message and _free_bytes(db_file.parent) < (1 << 20)):
        return describe_os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), db_file)
    if "unable to open" not in message and "readonly" not in message:
        return None
    try:   # SQLite names no cause: opening the file for writing gives the operating system's own
        existed = db_file.exists()
        fd = os.open(db_file, os.O_RDWR | os.O_CREAT, 0o666)
        os.close(fd)
        if not existed:
            db_file.unlink(missing_ok=True)
        os.close(os.open(db_file.parent / f".{db_file.name}.probe", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666))
        (db_file.parent / f".{db_file.name}.probe").unlink()   # SQLite's journal is a new file beside it
    except OSError as e:
        return describe_os_error(e, db_file)
    return None


def _free_bytes(folder: Path) -> int:
    import shutil

    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 1 << 62


def open_study(*, storage: str | None = None, study_name: str, attrs: Mapping[str, Any] | None = None,
               sampler_seed: int | None = None, create: bool = True):
    """Create or load the study ``study_name`` in ``storage`` (maximised).

    ``attrs`` (model, label key, objective, budget, ...) are stored with a new study and checked against an
    existing one, so a worker started with other settings cannot join (and spoil) the study.
    """
    import optuna
    import sqlalchemy.exc

    url = normalise_storage(storage)
    store = _storage(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=sampler_seed, constant_liar=True, multivariate=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if not create:
        try:
            return optuna.load_study(study_name=study_name, storage=store, sampler=sampler, pruner=pruner)
        except KeyError:
            raise ConfigError(f"no study {study_name!r} in {url}") from None

    def create_or_join():
        # Two workers starting together may both try to create the study: the loser loads it (retry covers the
        # window where the row exists but is not yet committed).
        for attempt in range(5):
            try:
                study = optuna.create_study(study_name=study_name, storage=store, sampler=sampler, pruner=pruner,
                                            direction="maximize", load_if_exists=True)
                break
            except (sqlalchemy.exc.IntegrityError, optuna.exceptions.DuplicatedStudyError):
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        if sampler_seed is not None and study.trials:
            # a seeded worker joining trials already run continues the search: its seed offset by the trials run,
            # since the same seed would replay the suggestions those trials began with (the same configurations
            # again)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.sampler = optuna.samplers.TPESampler(seed=(sampler_seed + len(study.trials)) % 2**32,
                                                           constant_liar=True, multivariate=True)
        if study.direction != optuna.study.StudyDirection.MAXIMIZE:
            raise ConfigError(f"study {study_name!r} in {url} is not an rnagen study (it minimises)")
        have = study.user_attrs
        for k, v in (attrs or {}).items():
            if k in have and have[k] != v:
                if k == "data":
                    raise ConfigError(f"study {study_name!r} in {url} tunes on other data (other values, names or "
                                      "labels); give the data it was started with to join it, or another --study "
                                      "name")
                raise ConfigError(
                    f"study {study_name!r} in {url} was started with {k}={have[k]!r}, not {v!r}; use the same "
                    f"settings to join it, or another --study name"
                )
            if k not in have:
                study.set_user_attr(k, v)
        return study

    try:
        return create_or_join()
    except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.OperationalError) as e:
        raise _storage_failure(e, url) or e from None


def _storage_failure(e: BaseException, url: str) -> RnagenError | None:
    """The one-line error of a failure ``e`` to write the study's storage ``url``: Optuna's StorageInternalError or
    SQLAlchemy's OperationalError anywhere in its chain (Optuna raises its own AssertionError from a trial whose
    state could not be committed, the storage's error as its context). A database the file system will not let
    SQLite write (read-only, immutable, a full disk) is named with its fix; ``None`` where ``e`` is no storage
    failure."""
    import optuna
    import sqlalchemy.exc

    if not isinstance(e, Exception):   # an interrupt is not a storage failure, whatever it interrupted
        return None
    chain: list[BaseException] = []
    link: BaseException | None = e
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    failed = [x for x in chain if isinstance(x, (optuna.exceptions.StorageInternalError,
                                                 sqlalchemy.exc.OperationalError))]
    if not failed:
        return None
    refused = _db_refused(url, " ".join(str(x) for x in chain))
    if refused is not None:
        return refused
    cause = failed[-1].__cause__ or failed[-1]
    return ConfigError(f"cannot write to storage {url!r}: {str(cause).splitlines()[0]}")


def _nest(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``{"train.lr": 1e-3}`` -> ``{"train": {"lr": 1e-3}}`` (the form build_config applies)."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _read(data: Any, label_key: str):
    import anndata as ad

    from ..data import read

    if isinstance(data, ad.AnnData):
        return data
    from .. import datasets

    if datasets.is_bundled(data):  # a data set shipped with rnagen, by name (e.g. gtex26)
        return datasets.load(str(data))
    return read(Path(data), label_key=label_key)


def _make_sqlite_folder(storage: str | None) -> list[Path]:
    """Create the folder of a ``sqlite:///PATH`` database (only once every option and the data are checked);
    returns the folders made, outermost first."""
    if storage and storage.startswith("sqlite:///"):
        return make_folders(Path(storage.removeprefix("sqlite:///")).parent)
    return []


def split_validation(adata, *, label_key: str, val_size: float, seed: int):
    """Stratified split into (train, validation) AnnData; every class keeps at least 2 training samples; copies of
    one profile (:mod:`rnagen.pp.copies`) on one side."""
    if label_key not in adata.obs:
        raise DataError(f"no label column {label_key!r} in the data; available columns: "
                        f"{list(adata.obs.columns)} (choose one with --label-key)")
    if not 0.0 < val_size < 1.0:
        raise ConfigError(f"val_size must be in (0, 1), got {val_size}")
    from ..pp.preprocess import check_labels, stratified_group_split

    check_labels(adata, label_key, min_per_class=2)   # missing labels, a continuous column, classes of one
    labels = adata.obs[label_key].astype(str).to_numpy()
    counts = dict(zip(*np.unique(labels, return_counts=True)))
    small = {k: int(v) for k, v in counts.items() if v < 3}
    if small:
        shown = dict(list(small.items())[:8])
        more = f" and {len(small) - 8} more" if len(small) > 8 else ""
        raise DataError(f"class(es) with fewer than 3 samples in {label_key!r}: {shown}{more}; tuning needs 2 to "
                        "train and 1 to validate per class (drop them: rnagen data prepare --min-samples 3)")
    # copies of one profile (a sample in the data twice) kept on one side: a validation copy of a training profile
    # would make the trials that reproduce their training profiles score best
    tr, va, _ = stratified_group_split(adata, labels, test_size=val_size, seed=seed, label_key=label_key,
                                       option="--val-size")
    # every model fits each class on 2 profiles at least: a split that leaves one would fail every trial
    kept = pd.Series(labels[tr]).value_counts().reindex(sorted(counts), fill_value=0)
    short = kept[kept < 2]
    if len(short):
        c = short.index[0]
        raise DataError(f"--val-size {val_size:g} leaves {len(short)} class(es) of {label_key!r} fewer than 2 training "
                        f"samples ({c!r}: {int(short.iloc[0])} of {int(counts[c])}); every trial trains on 2 of each "
                        "class at least: give a smaller --val-size, or drop the small classes (rnagen data prepare "
                        "--min-samples)")
    return adata[np.sort(tr)].copy(), adata[np.sort(va)].copy()


def _fixed_representation(train, val):
    """log2(x+1) unless already log-scale, then standardise on the training split (the same for all trials)."""
    from ..pp.transforms import make_pipeline

    X = dense(train.X, dtype=np.float64)
    pipe = make_pipeline(["standard"] if is_logged(train, X=X) else ["log2p1", "standard"])
    pipe.fit(X)
    return pipe, pipe.transform(dense(val.X, dtype=np.float64))


@one_warning_each()
def tune(
    data: Any,
    *,
    model: str,
    label_key: str,
    trials: int = 20,
    storage: str | None = None,
    study_name: str | None = None,
    budget: str | Budget = "standard",
    objective: str | Callable[[Scores], float] = "default",
    seed: int = 0,
    sampler_seed: int | None = None,
    val_size: float = 0.2,
    device: str = "auto",
    timeout: float | None = None,
    out: str | Path | None = None,
    callbacks: Sequence[Callable] = (),
):
    """Search the hyperparameters of ``model`` on ``data`` and return the Optuna study.

    Parameters
    ----------
    data
        AnnData or a path to a data file (samples x genes, labels in ``obs[label_key]``).
    model
        Registered generator name (``rnagen list models``).
    label_key
        Column of ``obs`` with the class to condition on.
    trials
        Trials this call runs (several workers on one study each run their own ``trials``).
    storage
        Optuna storage URL: ``sqlite:///FILE.db`` (default ``sqlite:///rnagen-tune.db`` in the current
        folder) or ``postgresql://USER@HOST:PORT/DB`` to share the study between workers.
    study_name
        Study to create or join (default ``rnagen-MODEL``).
    budget
        ``fast``, ``standard`` or ``paper``: the range of training steps and the pruning rungs
        (:data:`rnagen.tune.spaces.BUDGETS`).
    objective
        ``default`` (density + AA score + TSTR accuracy, each in [0, 1]; see
        :mod:`rnagen.tune.objective`), ``density``, ``aa``, ``tstr``, or a callable on :class:`Scores`.
    seed
        Seed of the validation split, of every trial's training and sampling (trials differ only by their
        configuration).
    sampler_seed
        Seed of the TPE sampler (``None``: fresh entropy, what independent workers want).
    val_size
        Share of each class held out for validation.
    timeout
        Stop starting new trials after this many seconds.
    out
        If given, write the best configuration found so far in the study (all workers) there as TOML
        that ``rnagen train --config`` accepts.
    """
    import optuna

    from ..models import get_model

    model_cls = get_model(model)
    check_objective(objective)
    budget = get_budget(budget)
    trials = check_number("trials", trials, ">= 1", integer=True)
    val_size = check_number("val_size", val_size, "(0, 1)")
    seed = check_seed("seed", seed)
    check_seed("seed + 1 (the sampling seed)", seed + 1)
    if sampler_seed is not None:
        sampler_seed = check_seed("sampler_seed", sampler_seed)
    timeout = check_number("timeout", timeout, "> 0", optional=True)
    check_device(device)
    adata = _read(data, label_key)
    train, val = split_validation(adata, label_key=label_key, val_size=val_size, seed=seed)
    pipe, val_rep = _fixed_representation(train, val)
    attrs = {"model": model, "label_key": label_key, "budget": budget.name, "val_size": float(val_size),
             "seed": int(seed), "n_genes": int(adata.n_vars), "n_samples": int(adata.n_obs),
             "data": _data_digest(adata, label_key),
             "objective": objective if isinstance(objective, str) else getattr(objective, "__name__", "custom")}
    made = _make_sqlite_folder(storage)
    try:
        study = open_study(storage=storage, study_name=study_name or f"rnagen-{model}", attrs=attrs,
                           sampler_seed=sampler_seed)
    except BaseException:
        # no study in them (a full disk, a read-only place): the folders made for its database are not left
        for d in reversed(made):
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
    runner = _TrialRunner(model_cls=model_cls, budget=budget, objective=objective, train=train, val=val,
                          label_key=label_key, pipe=pipe, val_rep=val_rep,
                          y_val=val.obs[label_key].astype(str).to_numpy(), seed=seed, device=device,
                          worker=f"{socket.gethostname()}:{os.getpid()}")
    try:
        study.optimize(runner, n_trials=int(trials), timeout=timeout, callbacks=list(callbacks), gc_after_trial=True)
    except BaseException as e:
        # interrupted (Ctrl-C, SIGTERM), or the study's database full: the best configuration of the trials
        # completed so far is kept
        runner.fail_running(study)
        if out is not None and any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
            write_best_config(study, out)
        failure = _storage_failure(e, normalise_storage(storage))
        if failure is not None:
            raise failure from None
        raise
    if out is not None:
        write_best_config(study, out)
    return study


def _data_digest(adata, label_key: str) -> str:
    """Identifies the data a study tunes on (every value, gene name, sample name and label): a worker given other
    data of the same shape would otherwise add trials scored on another validation split to the same study."""
    import hashlib

    h = hashlib.sha256()
    X = dense(adata.X, dtype=np.float64)
    h.update(str(X.shape).encode())
    h.update(np.ascontiguousarray(X).tobytes())
    for names in (adata.var_names, adata.obs_names, adata.obs[label_key].astype(str)):
        h.update("\n".join(map(str, names)).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class _TrialRunner:
    """One trial of a study: suggest a configuration, train and score it at each pruning rung.

    Every trial trains on the same training split with the same seed, samples the validation split's label
    mix with ``seed + 1`` and is scored in the same fixed representation (``pipe``), so trials differ only
    by their configuration.
    """

    model_cls: Any
    budget: Budget
    objective: str | Callable[[Scores], float]
    train: Any
    val: Any
    label_key: str
    pipe: Any
    val_rep: np.ndarray
    y_val: np.ndarray
    seed: int
    device: str
    worker: str
    running: list = dataclasses.field(default_factory=list)
    """The trial this worker is running (none between trials)."""

    def fail_running(self, study) -> None:
        """Mark the trial this worker was running when it was stopped as failed. Optuna does so for an exception
        or Ctrl-C, not for another ``BaseException`` (SIGTERM, raised by ``rnagen`` as one: a scheduler's or
        ``timeout``'s stop), which would leave it running in the storage until a later worker's heartbeat check,
        counted as running by every worker's sampler meanwhile. A storage that cannot be written is left as it is
        (its own error is the one raised)."""
        import optuna

        with contextlib.suppress(Exception):
            running = {t.number for t in study.get_trials(deepcopy=False,
                                                           states=(optuna.trial.TrialState.RUNNING,))}
            for trial in self.running:
                if trial.number in running:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self.running.clear()

    def evaluate(self, cfg) -> tuple[float, Scores, float]:
        """Objective value, scores and seconds of one configuration, trained from scratch."""
        t0 = time.perf_counter()
        try:
            gen = self.model_cls(cfg).fit(self.train, label_key=self.label_key, seed=self.seed, device=self.device,
                                          run_dir=None, progress=False)
            syn = gen.sample(like=self.val, seed=self.seed + 1)
        except DivergedError:   # settings that cannot train (a learning rate too high): the worst trial, not an end
            return objective_value(DIVERGED, self.objective), DIVERGED, time.perf_counter() - t0
        fake = self.pipe.transform(dense(syn.X, dtype=np.float64))
        y_fake = syn.obs[self.label_key].astype(str).to_numpy()
        scores = score_synthetic(self.val_rep, self.y_val, fake, y_fake, seed=self.seed)
        return objective_value(scores, self.objective), scores, time.perf_counter() - t0

    def __call__(self, trial) -> float:
        self.running[:] = [trial]
        return self._run(trial)

    def _run(self, trial) -> float:
        import optuna

        overrides = suggest(self.model_cls, trial, self.budget)
        cfg = build_config(self.model_cls.config_cls, overrides=_nest(overrides))
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("worker", self.worker)
        # successive halving: shorter trainings first (torch models only), pruned when behind the others
        rungs = self.budget.rungs if has_train_section(self.model_cls.config_cls) else (1.0,)
        value, seconds = float("nan"), 0.0
        scores: Scores | None = None
        for i, frac in enumerate(rungs):
            cfg_i = cfg
            if frac < 1.0:
                steps = max(1, int(round(cfg.train.steps * frac)))
                cfg_i = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=steps))
            value, scores, sec = self.evaluate(cfg_i)
            seconds += sec
            trial.report(value, step=i)
            if i < len(rungs) - 1 and trial.should_prune():
                trial.set_user_attr("seconds", seconds)
                raise optuna.TrialPruned()
        trial.set_user_attr("seconds", seconds)
        assert scores is not None  # the last rung is always the full run, so the loop ran at least once
        for k, v in scores.as_dict().items():
            trial.set_user_attr(k, v)
        return value


def best_config(study):
    """``(model name, resolved config)`` of the study's best complete trial (over all workers)."""
    import optuna

    from ..models import get_model

    name = study.user_attrs.get("model")
    if not name:
        raise ConfigError(f"study {study.study_name!r} was not made by rnagen tune (no model recorded)")
    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    if not done:
        raise RnagenError(f"study {study.study_name!r} has no complete trial yet; run more trials")
    best = max(done, key=lambda t: t.value)
    model_cls = get_model(name)
    overrides = best.user_attrs.get("overrides")
    if overrides is None:
        raise ConfigError(f"trial {best.number} of study {study.study_name!r} has no recorded configuration")
    return name, build_config(model_cls.config_cls, overrides=_nest(overrides))


def write_best_config(study, path: str | Path) -> Path:
    """Write the best configuration of ``study`` as TOML for ``rnagen train --config`` (atomically)."""
    name, cfg = best_config(study)
    return write_config(path, cfg, model=name)
