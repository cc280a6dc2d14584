"""Held-out log-likelihood of skvae on MNIST next to probabilistic PCA.

Fits a convolutional ``VariationalAutoencoder`` with ``latent_dim`` 2 and 8 on
a fixed training split of MNIST digits scaled to [0, 1] and reports, in nats
per image on the held-out split:

- the ELBO (``n_importance_samples=1``),
- the importance-weighted bound with ``k = 100`` and ``k = 1000`` draws,
- ``PCA(n_components=latent_dim).score``, the exact log-likelihood of
  probabilistic PCA fitted on the same training split.

``k = 1000`` is evaluated on the first ``--iwae-subset`` held-out images only
(it decodes ``1000 x subset`` images); every other column is also reported on
that subset, which is possible because a sample's score does not depend on the
other rows it is scored with.

The VAE's decoder is a Gaussian with the fixed variance
``n_features / (2 * alpha)``, so its nats depend on ``alpha``; probabilistic
PCA fits its noise variance by maximum likelihood. The default
``alpha = 5000`` (``sigma^2 ~ 0.078``, ``sigma ~ 0.28`` per pixel) is of the
order of the per-pixel reconstruction error of these small networks.

Usage::

    pip install .  # or run from the repository root with PYTHONPATH=.
    python benchmarks/likelihood_mnist.py --data ../shared/data/mnist --out result.json
"""

import argparse
import json
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skvae import VariationalAutoencoder
from skvae.datasets import load_mnist

LATENT_DIMS = (2, 8)
IMPORTANCE_SAMPLES = (100, 1000)
# A small conv network keeps 1000 importance samples per image affordable on a CPU.
NETWORK = dict(image_shape=(28, 28), conv_filters=(16, 32), conv_kernels=3, conv_strides=(2, 2))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="directory with the MNIST IDX files")
    parser.add_argument("--out", help="write the results as JSON to this file")
    parser.add_argument("--epochs", type=int, default=20, help="maximum epochs (default 20)")
    parser.add_argument(
        "--test-size", type=float, default=0.25, help="held-out fraction (default 0.25)"
    )
    parser.add_argument("--alpha", type=float, default=5000.0, help="VAE alpha (default 5000)")
    parser.add_argument(
        "--iwae-subset",
        type=int,
        default=500,
        help="held-out images scored with k=1000 (default 500)",
    )
    parser.add_argument("--random-state", type=int, default=0)
    return parser.parse_args(argv)


def evaluate(latent_dim, X_train, X_test, subset, args):
    """Scores of one latent size: a dict of column name to (full, subset) means."""
    started = time.perf_counter()
    vae = VariationalAutoencoder(
        latent_dim=latent_dim,
        alpha=args.alpha,
        epochs=args.epochs,
        random_state=args.random_state,
        **NETWORK,
    ).fit(X_train)
    fit_seconds = time.perf_counter() - started
    result = {"latent_dim": latent_dim, "epochs_run": vae.n_iter_, "fit_seconds": fit_seconds}

    vae.set_params(n_importance_samples=1)
    elbo = vae.score_samples(X_test)
    result["elbo"] = [float(elbo.mean()), float(elbo[:subset].mean())]
    for k in IMPORTANCE_SAMPLES:
        started = time.perf_counter()
        vae.set_params(n_importance_samples=k)
        rows = X_test if k < max(IMPORTANCE_SAMPLES) else X_test[:subset]
        iwae = vae.score_samples(rows)
        full = float(iwae.mean()) if len(rows) == len(X_test) else None
        result[f"iwae_{k}"] = [full, float(iwae[:subset].mean())]
        result[f"iwae_{k}_seconds"] = time.perf_counter() - started

    pca = PCA(n_components=latent_dim, random_state=args.random_state).fit(X_train)
    pca_scores = pca.score_samples(X_test)
    result["pca"] = [float(pca_scores.mean()), float(pca_scores[:subset].mean())]
    return result


def markdown_table(results, n_test, subset):
    columns = ["elbo", "iwae_100", "iwae_1000", "pca"]
    header = ["latent_dim", "held-out images", "ELBO", "IWAE k=100", "IWAE k=1000", "PCA score"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results:
        for which, n_rows in ((0, n_test), (1, subset)):
            cells = [str(result["latent_dim"]), f"{n_rows}"]
            for column in columns:
                value = result[column][which]
                cells.append("n/a" if value is None else f"{value:.1f}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    images, labels = load_mnist(args.data)
    X = images.reshape(len(images), -1).astype(np.float32) / 255.0
    X_train, X_test = train_test_split(
        X, test_size=args.test_size, random_state=args.random_state, stratify=labels
    )
    subset = min(args.iwae_subset, len(X_test))
    started = time.perf_counter()
    results = [evaluate(d, X_train, X_test, subset, args) for d in LATENT_DIMS]
    table = markdown_table(results, len(X_test), subset)
    print(
        f"MNIST: {len(X_train)} training, {len(X_test)} held-out images; alpha={args.alpha}, "
        f"network {NETWORK}; nats per image (higher is better)\n"
    )
    print(table)
    for result in results:
        print(
            f"\nlatent_dim={result['latent_dim']}: {result['epochs_run']} epochs, "
            f"fit {result['fit_seconds']:.0f} s, IWAE k=100 {result['iwae_100_seconds']:.0f} s, "
            f"k=1000 {result['iwae_1000_seconds']:.0f} s"
        )
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if args.out:
        with open(args.out, "w") as file:
            json.dump({"args": vars(args), "results": results, "table": table}, file, indent=2)


if __name__ == "__main__":
    main()
