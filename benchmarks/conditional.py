"""One category from all the other columns: ``VAEImputer``'s conditional against classifiers.

The mixed-table benchmark hides cells everywhere, so a category's error
there mixes two things: how well the model predicts it, and what else is
missing in its row. This script asks only the first question. For one
table of ``benchmarks.mixed`` and one of its categorical columns, a share
of the rows (``--fraction``, 0.3 by default; drawn per seed) lose that
column's value and nothing else:

- ``VAEImputer`` fits the whole table with those cells missing and fills
  each with its most probable category under the importance-weighted
  conditional, as it imputes;
- scikit-learn classifiers trained on the other rows (the other columns
  as features: numbers standardised, categories one-hot) predict it:
  the most frequent category, logistic regression, 5 nearest neighbours,
  an MLP of the imputer's hidden widths, extra trees and histogram
  gradient boosting.

It prints the share of hidden cells each gets wrong (per seed and the
mean) and writes every number to the JSON file. A VAE behind the linear
classifier has not learned the dependence that decides the column; behind
the trees only, the column hangs on a fine detail of the others.

Usage (from the repository root; the real tables need the ``benchmarks`` extra)::

    python -m benchmarks.conditional --table cars --column Origin --out origin.json
    python -m benchmarks.conditional --table cars --column Origin --out w5.json \
        --imputer-params '{"categorical_weight": 5, "latent_dim": 4}'
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from benchmarks.mixed import TABLES, column_kinds, load_table
from skvae import VAEImputer

HIDDEN_FRACTION = 0.3


def classifiers(seed):
    """Each classifier, fresh: the baselines the imputer's conditional is held to."""
    return {
        "most frequent": DummyClassifier(strategy="most_frequent"),
        "logistic regression": LogisticRegression(max_iter=5000),
        "5 nearest neighbours": KNeighborsClassifier(5),
        "MLP (128, 128)": MLPClassifier((128, 128), max_iter=2000, random_state=seed),
        "extra trees": ExtraTreesClassifier(100, random_state=seed),
        "gradient boosting": HistGradientBoostingClassifier(random_state=seed),
    }


def features(df):
    """The other columns as a classifier reads them: numbers standardised, categories one-hot."""
    numeric, categorical = column_kinds(df)
    return make_column_transformer(
        (StandardScaler(), numeric),
        (OneHotEncoder(handle_unknown="ignore"), categorical),
    )


def hidden_rows(n_rows, fraction, seed):
    """A boolean mask of the rows whose category is hidden (at least one, never all)."""
    hidden = np.random.default_rng(seed).random(n_rows) < fraction
    if not hidden.any() or hidden.all():
        raise ValueError(f"--fraction {fraction} hides none or all of {n_rows} rows.")
    return hidden


def share_wrong(predicted, true):
    return float(np.mean(np.asarray(predicted, dtype=object) != np.asarray(true, dtype=object)))


def runs(df, column, seeds, fraction, imputer_params):
    """One row per method and seed: the share of the hidden cells filled wrong."""
    rows = []
    others = df.drop(columns=column)
    truth = df[column].astype(object).to_numpy()
    for seed in seeds:
        hidden = hidden_rows(len(df), fraction, seed)
        incomplete = df.copy()
        incomplete.loc[hidden, column] = np.nan
        start = time.process_time()
        filled = VAEImputer(random_state=seed, **imputer_params).fit_transform(incomplete)
        rows.append(
            {
                "method": "VAEImputer",
                "seed": seed,
                "wrong": share_wrong(filled[column][hidden], truth[hidden]),
                "cpu_s": time.process_time() - start,
            }
        )
        for name, classifier in classifiers(seed).items():
            start = time.process_time()
            model = make_pipeline(features(others), classifier)
            model.fit(others[~hidden], truth[~hidden])
            rows.append(
                {
                    "method": name,
                    "seed": seed,
                    "wrong": share_wrong(model.predict(others[hidden]), truth[hidden]),
                    "cpu_s": time.process_time() - start,
                }
            )
        print(f"seed {seed}: {int(hidden.sum())} hidden cells", flush=True)
    return rows


def markdown(rows, seeds):
    lines = [
        "| method | " + " | ".join(f"seed {seed}" for seed in seeds) + " | mean |",
        "|---|" + "---|" * (len(seeds) + 1),
    ]
    for method in dict.fromkeys(row["method"] for row in rows):
        wrong = [row["wrong"] for row in rows if row["method"] == method]
        cells = " | ".join(f"{value:.3f}" for value in wrong)
        lines.append(f"| {method} | {cells} | **{np.mean(wrong):.3f}** |")
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=list(TABLES), required=True)
    parser.add_argument("--column", required=True, help="the categorical column to hide")
    parser.add_argument("--fraction", type=float, default=HIDDEN_FRACTION)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--imputer-params", default="{}", help="VAEImputer parameters, JSON")
    parser.add_argument("--smoke", action="store_true", help="tiny: 120 rows, one epoch")
    parser.add_argument("--out", required=True, help="JSON file to write")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    df = load_table(args.table, smoke=args.smoke)
    if args.column not in df.columns or not isinstance(df[args.column].dtype, pd.CategoricalDtype):
        _, categorical = column_kinds(df)
        raise SystemExit(
            f"--column must name a categorical column of {args.table}: one of {categorical}."
        )
    imputer_params = json.loads(args.imputer_params)
    if args.smoke:
        imputer_params = {**imputer_params, "epochs": 1}
    rows = runs(df, args.column, args.seeds, args.fraction, imputer_params)
    results = {
        "table": args.table,
        "column": args.column,
        "rows": len(df),
        "fraction": args.fraction,
        "seeds": args.seeds,
        "imputer_params": imputer_params,
        "runs": rows,
    }
    print(markdown(rows, args.seeds))
    Path(args.out).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
