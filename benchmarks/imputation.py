"""Missing-value imputation: ``VAEImputer`` against scikit-learn's imputers.

On MNIST (a fixed 75% of the digits to fit, the other 25% held out), the
RMSE on the missing entries of the held-out digits, with fit and transform
times, for ``VAEImputer`` (default hyper-parameters), ``SimpleImputer(mean)``,
``KNNImputer()`` and ``IterativeImputer`` (``n_nearest_features``, a few
rounds), in two tasks:

1. ``mcar``: 50% of the pixels missing completely at random, in the
   training and the held-out digits;
2. ``bottom``: the bottom half of each held-out digit missing, the
   imputers fitted on complete training digits. A reference row,
   ``KnownPatternRegressor``, is a network trained for exactly that
   pattern: a bound on what a conditional mean reaches here, not an imputer.

Each task also reports the accuracy of a ``LogisticRegression`` fitted on
the complete training digits, on the held-out digits as imputed by each
method, next to its accuracy on the complete held-out digits (the MIWAE
paper's downstream experiment). A third table, ``breast_cancer``, imputes
scikit-learn's breast-cancer table (standardised, 20% missing at random) in
place.

Usage (from the repository root)::

    python -m benchmarks.imputation --data ../shared/data/mnist --out imputation.json
    python -m benchmarks.imputation --data ../shared/data/mnist --tasks mcar \
        --imputers VAEImputer --params '{"mask_augmentation": false}'

``--params`` overrides ``VAEImputer``'s defaults (a JSON object);
``--imputers`` picks contenders by name.
"""

import argparse
import json
import math
import time

import keras
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from benchmarks.data import scaled
from skvae import VAEImputer
from skvae.datasets import load_mnist

TASKS = ("mcar", "bottom", "breast_cancer")
REFERENCE = "CNN regressor told the pattern (reference)"


def imputers(seed, vae_params, missing_pattern=None):
    """Each contender, by name, as a fresh estimator.

    With ``missing_pattern`` (a task whose held-out rows all miss the same
    entries), the list ends with the ``KnownPatternRegressor`` reference.
    """
    contenders = {
        "VAEImputer": VAEImputer(random_state=seed, **vae_params),
        "SimpleImputer(mean)": SimpleImputer(),
        "KNNImputer(5)": KNNImputer(),
        # The best of KNNImputer's settings tried on the bottom-half task.
        "KNNImputer(20 distance-weighted)": KNNImputer(n_neighbors=20, weights="distance"),
        # Ten nearest features and three rounds keep 784 pixels to seconds;
        # "IterativeImputer(30 nearest 10 rounds)" shows what more of both buys.
        "IterativeImputer": IterativeImputer(n_nearest_features=10, max_iter=3, random_state=seed),
        "IterativeImputer(30 nearest 10 rounds)": IterativeImputer(
            n_nearest_features=30, max_iter=10, random_state=seed
        ),
    }
    if missing_pattern is not None:
        contenders[REFERENCE] = KnownPatternRegressor(missing_pattern, seed=seed)
    return contenders


class KnownPatternRegressor:
    """A reference, not an imputer: a CNN that knows which pixels will be missing.

    Every row at ``transform`` must miss exactly ``missing`` (a boolean image
    row). ``fit`` trains a small convolutional network with the mean squared
    error to predict those pixels from the others (zero-filled) on complete
    training rows; no imputer can be told the pattern in advance, so its
    RMSE shows what a conditional mean can reach on this data, a bound the
    imputers are measured against rather than a contender. Early stopping
    holds out 10% of the rows; dropout 0.5 was the best of the settings tried.
    """

    def __init__(self, missing, *, seed=0, epochs=150):
        self.missing = missing
        self.seed = seed
        self.epochs = epochs

    def _inputs(self, X):
        side = math.isqrt(X.shape[1])
        return np.where(self.missing, 0.0, X).reshape(-1, side, side, 1).astype(np.float32)

    def fit(self, X):
        keras.utils.set_random_seed(self.seed)
        layers = keras.layers
        inputs = self._inputs(X)
        self.model_ = keras.Sequential(
            [
                keras.Input(inputs.shape[1:]),
                layers.Conv2D(32, 3, padding="same", activation="relu"),
                layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
                layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
                layers.Flatten(),
                layers.Dropout(0.5),
                layers.Dense(512, activation="relu"),
                layers.Dropout(0.5),
                layers.Dense(int(self.missing.sum()), activation="sigmoid"),
            ]
        )
        self.model_.compile(keras.optimizers.Adam(1e-3), "mse")
        stop = keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)
        self.model_.fit(
            inputs,
            X[:, self.missing].astype(np.float32),
            epochs=self.epochs,
            batch_size=64,
            validation_split=0.1,
            callbacks=[stop],
            verbose=0,
        )
        return self

    def transform(self, X):
        if not np.array_equal(np.isnan(X), np.broadcast_to(self.missing, X.shape)):
            raise ValueError("every row must miss exactly the pattern given at construction")
        X_imputed = X.copy()
        X_imputed[:, self.missing] = self.model_.predict(self._inputs(X), verbose=0)
        return X_imputed


def rmse_on_missing(X_imputed, X_true, missing):
    return float(np.sqrt(np.mean((X_imputed[missing] - X_true[missing]) ** 2)))


def compare(
    X_fit,
    X_test_missing,
    X_test_true,
    *,
    seed,
    vae_params,
    names,
    classifier=None,
    missing_pattern=None,
):
    """RMSE, times and (with a classifier) accuracy of the ``names`` imputers on one task."""
    missing = np.isnan(X_test_missing)
    rows = []
    for name, imputer in imputers(seed, vae_params, missing_pattern).items():
        if name not in names:
            continue
        start = time.perf_counter()
        imputer.fit(X_fit)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        X_imputed = imputer.transform(X_test_missing)
        transform_seconds = time.perf_counter() - start
        row = {
            "imputer": name,
            "rmse": rmse_on_missing(X_imputed, X_test_true, missing),
            "fit_s": fit_seconds,
            "transform_s": transform_seconds,
        }
        if classifier is not None:
            row["accuracy"] = float(classifier[0].score(X_imputed, classifier[1]))
        if name == "VAEImputer":
            row["epochs"] = imputer.n_iter_
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def mnist_tasks(data_dir, tasks, *, seed, vae_params, names):
    images, labels = load_mnist(data_dir)
    X = scaled(images.reshape(len(images), -1)).astype(np.float64)
    # The rows are images: a convolutional network (the user's settings win).
    vae_params = {"image_shape": images.shape[1:], **vae_params}
    X_train, X_test, y_train, y_test = train_test_split(
        X, labels, test_size=0.25, random_state=seed
    )
    classifier = LogisticRegression(max_iter=1000).fit(X_train, y_train)
    complete_accuracy = float(classifier.score(X_test, y_test))
    print(json.dumps({"logistic_regression_on_complete_test": complete_accuracy}), flush=True)
    rng = np.random.default_rng(seed)
    results = {"complete_accuracy": complete_accuracy, "n_train": len(X_train)}
    if "mcar" in tasks:
        X_train_missing = np.where(rng.random(X_train.shape) < 0.5, np.nan, X_train)
        X_test_missing = np.where(rng.random(X_test.shape) < 0.5, np.nan, X_test)
        results["mcar"] = compare(
            X_train_missing,
            X_test_missing,
            X_test,
            seed=seed,
            vae_params=vae_params,
            names=names,
            classifier=(classifier, y_test),
        )
    if "bottom" in tasks:
        bottom_half = np.arange(X.shape[1]) >= X.shape[1] // 2
        X_test_missing = np.where(bottom_half, np.nan, X_test)
        results["bottom"] = compare(
            X_train,
            X_test_missing,
            X_test,
            seed=seed,
            vae_params=vae_params,
            names=names,
            classifier=(classifier, y_test),
            missing_pattern=bottom_half,
        )
    return results


def breast_cancer_task(*, seed, vae_params, names):
    X = StandardScaler().fit_transform(load_breast_cancer().data)
    X_missing = np.where(np.random.default_rng(seed).random(X.shape) < 0.2, np.nan, X)
    return compare(X_missing, X_missing, X, seed=seed, vae_params=vae_params, names=names)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="directory with the MNIST IDX files")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated")
    parser.add_argument("--params", default="{}", help="VAEImputer parameters, as JSON")
    parser.add_argument(
        "--imputers",
        default=",".join([*imputers(0, {}), REFERENCE]),
        help="comma-separated names of the imputers to run (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="JSON file to write")
    args = parser.parse_args(argv)
    tasks = args.tasks.split(",")
    vae_params = json.loads(args.params)
    names = args.imputers.split(",")
    known = [*imputers(0, {}), REFERENCE]
    unknown = set(names) - set(known)
    if unknown:
        parser.error(f"unknown imputers {sorted(unknown)}; known: {known}")
    results = {"params": vae_params, "seed": args.seed}
    if {"mcar", "bottom"} & set(tasks):
        if args.data is None:
            parser.error("the MNIST tasks need --data")
        results.update(
            mnist_tasks(args.data, tasks, seed=args.seed, vae_params=vae_params, names=names)
        )
    if "breast_cancer" in tasks:
        results["breast_cancer"] = breast_cancer_task(
            seed=args.seed, vae_params=vae_params, names=names
        )
    if args.out:
        with open(args.out, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
