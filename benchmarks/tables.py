"""Small tables: ``VariationalAutoencoder`` and ``VAEImputer`` against linear models.

On scikit-learn's bundled ``load_breast_cancer`` (569 x 30),
``load_diabetes`` (442 x 10) and ``load_wine`` (178 x 13), features only:

1. **Density and reconstruction.** For each table and seed, a
   ``train_test_split(X, test_size=0.25, random_state=seed)``, standardised
   with a ``StandardScaler`` fitted on the training part. For ``k`` in (2, 5):
   the held-out ``score`` (mean log-likelihood per row, in nats; the VAE's is
   its bound), the reconstruction MSE of the held-out rows (encode then
   decode, in standardised units) and the fit time of
   ``VariationalAutoencoder(latent_dim=k)``, ``FactorAnalysis(k)`` and
   ``PCA(k)``, whose ``score`` is probabilistic PCA's (PPCA).
2. **Imputation.** Each whole table standardised (as the MIWAE authors'
   notebook does), then for MCAR rates 0.2 and 0.5 and each seed: entries
   hidden completely at random (no row entirely hidden), imputed in place
   (``fit_transform``), the MSE on the hidden entries and the fit+transform
   time of ``VAEImputer``, ``SimpleImputer`` (mean), ``KNNImputer(5)``,
   ``IterativeImputer(max_iter=25)`` and a missForest-style
   ``IterativeImputer`` on ``ExtraTreesRegressor(n_estimators=100)``. Each
   setting also gets the bar ``1.05 * min(IterativeImputer, KNNImputer)``
   (means over seeds) and whether ``VAEImputer`` meets it.

It prints Markdown tables (means over seeds, with the VAE's min-max over
seeds) and writes every single number to the JSON file.

Usage (from the repository root)::

    python -m benchmarks.tables --out tables.json
    python -m benchmarks.tables --out tables.json --seeds 0 1 2 --tables wine \
        --vae-params '{"alpha": "auto"}' --imputer-params '{"mask_augmentation": false}'
    python -m benchmarks.tables --out smoke.json --smoke --tables diabetes
    python -m benchmarks.tables --out density.json --parts density

``--vae-params`` and ``--imputer-params`` override the defaults of
``VariationalAutoencoder`` and ``VAEImputer`` (JSON objects). ``--smoke``
makes it tiny for a test: one seed, the first 60 rows of each table,
``epochs=1``, and fewer rounds and trees for the iterative imputers.
"""

import argparse
import json
import math
import os
import platform
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skvae import VAEImputer, VariationalAutoencoder

TABLES = {
    "breast_cancer": load_breast_cancer,
    "diabetes": load_diabetes,
    "wine": load_wine,
}
LATENT_DIMS = (2, 5)
MISSING_RATES = (0.2, 0.5)
DENSITY_MODELS = ("VAE", "FA", "PCA")
IMPUTERS = ("VAEImputer", "SimpleImputer", "KNNImputer", "IterativeImputer", "missForest")
BAR_FACTOR = 1.05
PARTS = ("density", "imputation")
SMOKE_ROWS = 60


def load_table(name, smoke=False):
    """The table's features as float64, the first ``SMOKE_ROWS`` rows with ``smoke``."""
    X = np.asarray(TABLES[name]().data, dtype=np.float64)
    return X[:SMOKE_ROWS] if smoke else X


def density_models(k, seed, vae_params):
    """Each density contender, by name, as a fresh estimator."""
    return {
        "VAE": VariationalAutoencoder(latent_dim=k, random_state=seed, **vae_params),
        "FA": FactorAnalysis(n_components=k, random_state=seed),
        "PCA": PCA(n_components=k, random_state=seed),
    }


def reconstruct(model, X):
    """Encode then decode ``X``; FactorAnalysis has no ``inverse_transform``, so by hand."""
    if isinstance(model, FactorAnalysis):
        return model.transform(X) @ model.components_ + model.mean_
    return model.inverse_transform(model.transform(X))


def density_runs(name, X, seeds, vae_params):
    """One row per (k, seed, model): held-out score, reconstruction MSE, fit time."""
    rows = []
    for seed in seeds:
        X_train, X_test = train_test_split(X, test_size=0.25, random_state=seed)
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        for k in LATENT_DIMS:
            for model_name, model in density_models(k, seed, vae_params).items():
                start = time.perf_counter()
                model.fit(X_train)
                fit_s = time.perf_counter() - start
                score = float(model.score(X_test))
                mse = float(np.mean((reconstruct(model, X_test) - X_test) ** 2))
                rows.append(
                    {
                        "table": name,
                        "k": k,
                        "seed": seed,
                        "model": model_name,
                        "score": score,
                        "mse": mse,
                        "fit_s": fit_s,
                    }
                )
                print(
                    f"  {name} k={k} seed={seed} {model_name}: score {score:.2f}, "
                    f"MSE {mse:.3f}, fit {fit_s:.2f} s",
                    flush=True,
                )
    return rows


def imputers(seed, imputer_params, smoke=False, skip=()):
    """Each imputation contender, by name, as a fresh estimator (but those in ``skip``)."""
    rounds, trees = (2, 10) if smoke else (25, 100)
    contenders = {
        "VAEImputer": VAEImputer(random_state=seed, **imputer_params),
        "SimpleImputer": SimpleImputer(),
        "KNNImputer": KNNImputer(n_neighbors=5),
        "IterativeImputer": IterativeImputer(max_iter=rounds, random_state=seed),
        "missForest": IterativeImputer(
            estimator=ExtraTreesRegressor(n_estimators=trees, random_state=seed, n_jobs=1),
            max_iter=min(rounds, 10),
            random_state=seed,
        ),
    }
    return {name: imputer for name, imputer in contenders.items() if name not in skip}


def mcar_mask(shape, rate, seed):
    """Entries hidden completely at random; rows that would be entirely hidden are redrawn."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < rate
    empty = mask.all(axis=1)
    while empty.any():
        mask[empty] = rng.random((int(empty.sum()), shape[1])) < rate
        empty = mask.all(axis=1)
    return mask


def imputation_runs(name, X, seeds, imputer_params, smoke=False, skip=()):
    """One row per (rate, seed, imputer): MSE on the hidden entries, fit+transform time."""
    X = StandardScaler().fit_transform(X)
    rows = []
    for rate in MISSING_RATES:
        for seed in seeds:
            mask = mcar_mask(X.shape, rate, seed)
            X_missing = np.where(mask, np.nan, X)
            for imputer_name, imputer in imputers(seed, imputer_params, smoke, skip).items():
                start = time.perf_counter()
                X_imputed = imputer.fit_transform(X_missing.copy())
                fit_s = time.perf_counter() - start
                mse = float(np.mean((X_imputed[mask] - X[mask]) ** 2))
                rows.append(
                    {
                        "table": name,
                        "rate": rate,
                        "seed": seed,
                        "imputer": imputer_name,
                        "missing_fraction": float(mask.mean()),
                        "mse": mse,
                        "fit_s": fit_s,
                    }
                )
                print(
                    f"  {name} MCAR {rate:.0%} seed={seed} {imputer_name}: "
                    f"MSE {mse:.3f}, fit+transform {fit_s:.2f} s",
                    flush=True,
                )
    return rows


def summarise(rows, keys, name_key, measures):
    """Means, minima and maxima over seeds of ``measures``, per ``keys`` and contender."""
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in (*keys, name_key)), []).append(row)
    summary = []
    for group_key, group in groups.items():
        entry = dict(zip((*keys, name_key), group_key, strict=True))
        entry["n_seeds"] = len(group)
        for measure in measures:
            values = [row[measure] for row in group]
            entry[f"{measure}_mean"] = float(np.mean(values))
            entry[f"{measure}_min"] = float(np.min(values))
            entry[f"{measure}_max"] = float(np.max(values))
        summary.append(entry)
    return summary


def lookup(summary, name_key, **where):
    """The summary entries matching ``where``, by contender name."""
    return {
        entry[name_key]: entry
        for entry in summary
        if all(entry[key] == value for key, value in where.items())
    }


def density_bars(summary, tables):
    """Per table and k: VAE score >= max(FA, PPCA) and VAE MSE <= PCA's."""
    bars = []
    for table in tables:
        for k in LATENT_DIMS:
            by = lookup(summary, "model", table=table, k=k)
            best_linear = max(by["FA"]["score_mean"], by["PCA"]["score_mean"])
            bars.append(
                {
                    "table": table,
                    "k": k,
                    "vae_score": by["VAE"]["score_mean"],
                    "max_linear_score": best_linear,
                    "score_met": by["VAE"]["score_mean"] >= best_linear,
                    "vae_mse": by["VAE"]["mse_mean"],
                    "pca_mse": by["PCA"]["mse_mean"],
                    "mse_met": by["VAE"]["mse_mean"] <= by["PCA"]["mse_mean"],
                }
            )
    return bars


def imputation_bars(summary, tables):
    """Per table and rate: VAE MSE <= 1.05 * min(IterativeImputer, KNNImputer), fit <= 60 s."""
    bars = []
    for table in tables:
        for rate in MISSING_RATES:
            by = lookup(summary, "imputer", table=table, rate=rate)
            bar = BAR_FACTOR * min(
                by["IterativeImputer"]["mse_mean"], by["KNNImputer"]["mse_mean"]
            )
            vae = by["VAEImputer"]
            bars.append(
                {
                    "table": table,
                    "rate": rate,
                    "vae_mse": vae["mse_mean"],
                    "bar": bar,
                    "met": vae["mse_mean"] <= bar,
                    "vae_fit_s_max": vae["fit_s_max"],
                    "fit_under_60s": vae["fit_s_max"] <= 60,
                }
            )
    return bars


def _spread(entry, measure, digits):
    return (
        f"{entry[f'{measure}_mean']:.{digits}f} "
        f"({entry[f'{measure}_min']:.{digits}f} to {entry[f'{measure}_max']:.{digits}f})"
    )


def markdown(results):
    """The Markdown tables of the parts run: means over seeds, the VAE's min-max in brackets."""
    parts = results["config"]["parts"]
    lines = _density_markdown(results) if "density" in parts else []
    if "imputation" in parts:
        lines += ([""] if lines else []) + _imputation_markdown(results)
    return "\n".join(lines)


def _density_markdown(results):
    tables = results["config"]["tables"]
    density = results["density_summary"]
    lines = [
        "Density (held-out score, nats per row, higher is better) and reconstruction "
        "MSE (standardised units):",
        "",
        "| table | k | VAE score (min-max) | FA score | PPCA score | VAE MSE (min-max) "
        "| FA MSE | PCA MSE | fit s VAE / FA / PCA |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for table in tables:
        for k in LATENT_DIMS:
            by = lookup(density, "model", table=table, k=k)
            vae, fa, pca = by["VAE"], by["FA"], by["PCA"]
            lines.append(
                f"| {table} | {k} | {_spread(vae, 'score', 2)} | {fa['score_mean']:.2f} "
                f"| {pca['score_mean']:.2f} | {_spread(vae, 'mse', 3)} | {fa['mse_mean']:.3f} "
                f"| {pca['mse_mean']:.3f} | {vae['fit_s_mean']:.1f} / {fa['fit_s_mean']:.3f} "
                f"/ {pca['fit_s_mean']:.3f} |"
            )
    return lines


def _imputation_markdown(results):
    tables = results["config"]["tables"]
    imputation = results["imputation_summary"]
    lines = [
        "Imputation MSE on the hidden entries (standardised units), bar = "
        f"{BAR_FACTOR} x min(IterativeImputer, KNNImputer):",
        "",
        "| table | MCAR | VAEImputer (min-max) | Simple | KNN | Iterative | missForest "
        "| bar | VAE meets |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    bars = {(bar["table"], bar["rate"]): bar for bar in results["bars"]["imputation"]}
    for table in tables:
        for rate in MISSING_RATES:
            by = lookup(imputation, "imputer", table=table, rate=rate)
            bar = bars[(table, rate)]
            others = " | ".join(_mean(by, name, "mse", 3) for name in IMPUTERS[1:])
            lines.append(
                f"| {table} | {rate:.0%} | {_spread(by['VAEImputer'], 'mse', 3)} | {others} "
                f"| {bar['bar']:.3f} | {'yes' if bar['met'] else 'no'} |"
            )
    lines += [
        "",
        "Imputation fit+transform time (s, mean over seeds):",
        "",
        "| table | MCAR | " + " | ".join(IMPUTERS) + " |",
        "|---|---|" + "---|" * len(IMPUTERS),
    ]
    for table in tables:
        for rate in MISSING_RATES:
            by = lookup(imputation, "imputer", table=table, rate=rate)
            times = " | ".join(_mean(by, name, "fit_s", 2) for name in IMPUTERS)
            lines.append(f"| {table} | {rate:.0%} | {times} |")
    return lines


def _mean(by, name, measure, digits):
    """A contender's mean as a table cell, "-" for one the run skipped."""
    return f"{by[name][f'{measure}_mean']:.{digits}f}" if name in by else "-"


def _finite_or_none(value):
    """JSON has no NaN or infinity: those are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES))
    parser.add_argument(
        "--vae-params", default="{}", help="VariationalAutoencoder parameters, as JSON"
    )
    parser.add_argument("--imputer-params", default="{}", help="VAEImputer parameters, as JSON")
    parser.add_argument("--smoke", action="store_true", help="tiny: one seed, 60 rows, 1 epoch")
    parser.add_argument(
        "--parts", nargs="+", choices=PARTS, default=list(PARTS), help="which parts to run"
    )
    parser.add_argument(
        "--skip",
        nargs="+",
        default=[],
        choices=["SimpleImputer", "missForest"],
        help="imputers to leave out (the bars need only KNNImputer and IterativeImputer)",
    )
    args = parser.parse_args(argv)
    vae_params = json.loads(args.vae_params)
    imputer_params = json.loads(args.imputer_params)
    seeds = args.seeds[:1] if args.smoke else args.seeds
    if args.smoke:
        vae_params = {**vae_params, "epochs": 1}
        imputer_params = {**imputer_params, "epochs": 1}

    start = time.perf_counter()
    density, imputation, shapes = [], [], {}
    with warnings.catch_warnings():
        # IterativeImputer warns whenever it stops at max_iter; that is the setting here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name in args.tables:
            X = load_table(name, smoke=args.smoke)
            shapes[name] = list(X.shape)
            if "density" in args.parts:
                density += density_runs(name, X, seeds, vae_params)
            if "imputation" in args.parts:
                imputation += imputation_runs(
                    name, X, seeds, imputer_params, smoke=args.smoke, skip=args.skip
                )
    density_summary = summarise(density, ("table", "k"), "model", ("score", "mse", "fit_s"))
    imputation_summary = summarise(imputation, ("table", "rate"), "imputer", ("mse", "fit_s"))
    results = {
        "config": {
            "tables": args.tables,
            "parts": args.parts,
            "shapes": shapes,
            "seeds": seeds,
            "vae_params": vae_params,
            "imputer_params": imputer_params,
            "smoke": args.smoke,
            "latent_dims": list(LATENT_DIMS),
            "missing_rates": list(MISSING_RATES),
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_average": list(os.getloadavg()),
        },
        "density": density,
        "density_summary": density_summary,
        "imputation": imputation,
        "imputation_summary": imputation_summary,
        "bars": {
            "density": density_bars(density_summary, args.tables) if density else [],
            "imputation": imputation_bars(imputation_summary, args.tables) if imputation else [],
        },
    }
    results["wall_s"] = time.perf_counter() - start
    print(markdown(results))
    print(f"\nwall time {results['wall_s']:.0f} s")
    with open(args.out, "w") as file:
        json.dump(_finite_or_none(results), file, indent=2)
    return results


if __name__ == "__main__":
    main()
