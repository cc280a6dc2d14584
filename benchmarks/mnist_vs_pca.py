"""Reconstruction error of a 2-D VariationalAutoencoder against PCA(2) on MNIST.

The core issue's acceptance check: fit on the MNIST digits with
``latent_dim=2`` within a 3-minute CPU budget, and compare the per-pixel
reconstruction MSE of ``inverse_transform(transform(X))`` on a held-out part
with that of ``PCA(2)`` on the same split.

    python benchmarks/mnist_vs_pca.py --data ../shared/data/mnist
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skvae import VariationalAutoencoder
from skvae.datasets import load_mnist


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="directory with the MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=32)
    parser.add_argument("--alpha", type=float, default=5000.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--test-size", type=float, default=0.25)
    # Within a fixed time budget every training image helps more than a
    # validation split; early stopping then watches the training loss.
    parser.add_argument("--validation-fraction", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)

    images, _ = load_mnist(args.data)
    X = images.reshape(len(images), -1).astype(np.float32) / 255
    X_train, X_test = train_test_split(X, test_size=args.test_size, random_state=args.seed)

    def held_out_mse(model):
        return float(np.mean((model.inverse_transform(model.transform(X_test)) - X_test) ** 2))

    pca_start = time.perf_counter()
    pca = PCA(2).fit(X_train)
    pca_seconds = time.perf_counter() - pca_start
    vae = VariationalAutoencoder(
        latent_dim=2,
        image_shape=images.shape[1:],
        alpha=args.alpha,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_fraction=args.validation_fraction,
        random_state=args.seed,
    )
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    vae.fit(X_train)
    results = {
        "n_train": len(X_train),
        "n_test": len(X_test),
        "epochs_run": vae.n_iter_,
        "fit_wall_seconds": round(time.perf_counter() - wall_start, 1),
        "fit_cpu_seconds": round(time.process_time() - cpu_start, 1),
        "vae_mse": held_out_mse(vae),
        "pca_mse": held_out_mse(pca),
        "pca_fit_seconds": round(pca_seconds, 2),
        "vae_score": vae.score(X_test),
        "pca_score": float(pca.score(X_test)),
        "load_average": os.getloadavg()[0],
    }
    results["mse_ratio"] = results["vae_mse"] / results["pca_mse"]
    print(json.dumps(results, indent=2))
    if args.out:
        with open(args.out, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
