"""Model files: ``skvae.load`` against ``joblib.load`` of the same fitted model.

Fits the default ``VariationalAutoencoder`` on MNIST (the weights' size does
not depend on how long it trains, so one epoch by default), saves it both
ways, and reports the file sizes and the load times:

* warm: both loads alternate in this process, after one load of each, and
  the median of ``--runs`` of each is kept (interleaving spreads the load
  of other processes over both);
* cold: each load in a fresh process (``--cold-runs`` of each, alternating),
  timed around the load call only, after TensorFlow and skvae are imported:
  what a command such as ``skvae sample`` pays on its first load.

Run from the repository root::

    python -m benchmarks.model_files --data ../shared/data/mnist
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_COLD_LOAD = """
import sys, time
import joblib, keras, skvae
# Imported before timing, so that neither load pays for importing TensorFlow.
from skvae import _estimator, _imputer, _model_file
kind, path = sys.argv[1], sys.argv[2]
start = time.perf_counter()
model = skvae.load(path) if kind == "skvae" else joblib.load(path)
print(time.perf_counter() - start)
"""


def _warm_times(paths, runs):
    import joblib

    import skvae

    loaders = {"skvae": skvae.load, "joblib": joblib.load}
    for kind, load in loaders.items():
        load(paths[kind])  # first loads build Keras' and TensorFlow's caches
    times = {kind: [] for kind in loaders}
    for _ in range(runs):
        for kind, load in loaders.items():
            start = time.perf_counter()
            load(paths[kind])
            times[kind].append(time.perf_counter() - start)
    return times


def _cold_times(paths, runs):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root}
    times = {"skvae": [], "joblib": []}
    for _ in range(runs):
        for kind in times:
            result = subprocess.run(
                [sys.executable, "-c", _COLD_LOAD, kind, paths[kind]],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            times[kind].append(float(result.stdout.split()[-1]))
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="MNIST-style IDX folder (default: sklearn's digits)")
    parser.add_argument("--n-samples", type=int, default=2000, help="digits to fit on")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--runs", type=int, default=9, help="warm loads of each kind")
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh-process loads of each")
    parser.add_argument("--out", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    import joblib
    import numpy as np

    import skvae

    if args.data:
        from skvae.datasets import load_mnist

        X = load_mnist(args.data)[0][: args.n_samples]
        source = f"MNIST from {args.data}"
    else:
        from sklearn.datasets import load_digits

        X = (load_digits().images[: args.n_samples] * 255 / 16).astype(np.uint8)
        source = "scikit-learn's 8x8 digits"
    X = X.reshape(len(X), *X.shape[1:3], -1) if X.ndim >= 3 else X
    vae = skvae.VariationalAutoencoder(epochs=args.epochs, random_state=0).fit(X)

    with tempfile.TemporaryDirectory() as directory:
        paths = {
            "skvae": os.path.join(directory, "model.skvae"),
            "joblib": os.path.join(directory, "model.joblib"),
        }
        skvae.save(vae, paths["skvae"])
        joblib.dump(vae, paths["joblib"])
        sizes = {kind: os.path.getsize(path) for kind, path in paths.items()}
        # The loaded model is the fitted one.
        assert np.array_equal(skvae.load(paths["skvae"]).transform(X[:50]), vae.transform(X[:50]))
        warm = _warm_times(paths, args.runs)
        cold = _cold_times(paths, args.cold_runs) if args.cold_runs else None

    def median_ms(times):
        return 1000 * statistics.median(times)

    results = {
        "data": source,
        "n_weights": int(vae.encoder_.count_params() + vae.decoder_.count_params()),
        "file_bytes": sizes,
        "size_ratio": sizes["skvae"] / sizes["joblib"],
        "warm_load_ms": {kind: median_ms(times) for kind, times in warm.items()},
        "warm_load_ratio": statistics.median(warm["skvae"]) / statistics.median(warm["joblib"]),
        "warm_load_seconds_each": warm,
    }
    if cold:
        results["cold_load_ms"] = {kind: median_ms(times) for kind, times in cold.items()}
        results["cold_load_ratio"] = statistics.median(cold["skvae"]) / statistics.median(
            cold["joblib"]
        )
        results["cold_load_seconds_each"] = cold
    results["load_average"] = os.getloadavg()

    rows = [
        ("file size (bytes)", sizes["skvae"], sizes["joblib"], results["size_ratio"]),
        (
            f"load, warm (median of {args.runs}, ms)",
            results["warm_load_ms"]["skvae"],
            results["warm_load_ms"]["joblib"],
            results["warm_load_ratio"],
        ),
    ]
    if cold:
        rows.append(
            (
                f"load, fresh process (median of {args.cold_runs}, ms)",
                results["cold_load_ms"]["skvae"],
                results["cold_load_ms"]["joblib"],
                results["cold_load_ratio"],
            )
        )
    print(f"Default VariationalAutoencoder on {source}, {results['n_weights']:,} weights")
    print("| measure | skvae.load (.skvae) | joblib.load (.joblib) | skvae / joblib |")
    print("|---|---|---|---|")
    for name, ours, theirs, ratio in rows:
        digits = 0 if name.startswith("file") else 1
        print(f"| {name} | {ours:,.{digits}f} | {theirs:,.{digits}f} | {ratio:.2f} |")
    if args.out:
        with open(args.out, "w") as file:
            json.dump(results, file, indent=1)
    return results


if __name__ == "__main__":
    main()
