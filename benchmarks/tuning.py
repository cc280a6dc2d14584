"""Tuning ``alpha`` and ``latent_dim`` on MNIST: the full grid against successive halving.

Both searches see the same training digits, the same 3x3 grid and the
same folds, and score candidates by the held-out ``score`` (no ``scoring``
argument). ``GridSearchCV`` fits every candidate at the default
``epochs="auto"``. ``HalvingGridSearchCV`` uses ``epochs`` (passes over a
fold's training rows) as its resource: the first round fits all nine
candidates for a ninth of the passes the default fit makes, each later
round keeps the best third for three times as many, and the last round
fits one candidate at (at most) the default's budget. Each search then
fits its winner with the default ``epochs`` on all the training digits,
and the two are compared by wall time, processor time, and the winner's
``score`` on the held-out digits. The per-candidate cross-validated
scores of every round are kept, to see whether the short fits rank the
candidates as the full ones do.

    python -m benchmarks.tuning --data ../shared/data/mnist --out tuning.json
"""

import argparse
import json
import math
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from sklearn.base import clone
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, KFold, train_test_split

from benchmarks.data import load_images, scaled

GRID = {"alpha": ["auto", 1000.0, 10000.0], "latent_dim": [2, 8, 16]}
FACTOR = 3


def default_passes(n_rows, estimator):
    """Passes over ``n_rows`` that the default ``epochs="auto"`` fit trains for.

    An ``"auto"`` epoch is one pass, or :data:`MIN_STEPS_PER_EPOCH` steps if
    a pass is shorter, so the halving search's last round gets the default
    fit's number of gradient steps, counted in the passes its resource is.
    """
    from skvae._training import AUTO_EPOCHS_COMPLETE_IMAGES, MIN_STEPS_PER_EPOCH

    fit_rows = n_rows - int(n_rows * estimator.validation_fraction)
    steps_per_pass = math.ceil(fit_rows / estimator.batch_size)
    default_steps = AUTO_EPOCHS_COMPLETE_IMAGES * max(steps_per_pass, MIN_STEPS_PER_EPOCH)
    return default_steps // steps_per_pass


def _timed_search(search, X_train, X_test):
    """Run ``search``, fit its winner with the default epochs, score it held out."""
    start, start_cpu = time.perf_counter(), time.process_time()
    search.fit(X_train)
    search_s, search_cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
    winner = clone(search.estimator).set_params(**{**search.best_params_, "epochs": "auto"})
    start = time.perf_counter()
    winner.fit(X_train)
    results = search.cv_results_
    return {
        "best_params": {name: search.best_params_[name] for name in GRID},
        "search_s": round(search_s, 1),
        "search_cpu_s": round(search_cpu_s, 1),
        "winner_refit_s": round(time.perf_counter() - start, 1),
        "winner_held_out_score": round(float(winner.score(X_test)), 2),
        "n_fits": len(results["params"]) * search.n_splits_,
        "cv_scores": [
            {**params, "mean_test_score": round(float(score), 2)}
            for params, score in zip(results["params"], results["mean_test_score"], strict=True)
        ],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="directory with the MNIST IDX files (default: synthetic)")
    parser.add_argument("--n-samples", type=int, help="use only the first N images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument(
        "--skip-grid", action="store_true", help="run only the halving search (a quick look)"
    )
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)

    from skvae import VariationalAutoencoder

    images, _, source = load_images(args.data)
    X = scaled(images[: args.n_samples])[..., None]
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=args.seed)
    folds = KFold(args.cv, shuffle=True, random_state=args.seed)
    vae = VariationalAutoencoder(random_state=args.seed)
    fold_rows = len(X_train) - math.ceil(len(X_train) / args.cv)
    max_passes = default_passes(fold_rows, vae)
    results = {
        "data": source,
        "n_train": len(X_train),
        "n_test": len(X_test),
        "cv": args.cv,
        "grid": GRID,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    if not args.skip_grid:
        grid = GridSearchCV(vae, GRID, cv=folds, refit=False)
        results["grid_search"] = _timed_search(grid, X_train, X_test)
        print(json.dumps(results["grid_search"]), flush=True)
    halving = HalvingGridSearchCV(
        vae,
        GRID,
        cv=folds,
        factor=FACTOR,
        resource="epochs",
        max_resources=max_passes,
        refit=False,
        random_state=args.seed,
    )
    results["halving_search"] = _timed_search(halving, X_train, X_test)
    results["halving_search"]["epochs_per_round"] = [int(n) for n in halving.n_resources_]
    print(json.dumps(results["halving_search"]), flush=True)
    if args.out:
        with open(args.out, "w") as file:
            json.dump(results, file, indent=2)
    return results


if __name__ == "__main__":
    main()
