"""Decoder calibration on MNIST: fitted variance, ``alpha="auto"``, Bernoulli.

For each configuration, fits a ``VariationalAutoencoder`` with default
hyper-parameters (except those named) on a fixed 75% of the digits and
reports on the held-out 25%: ``score`` (mean ELBO in nats per image, under
the fitted decoder variance), reconstruction MSE per pixel, the same for
``PCA(latent_dim)``, the fitted ``decoder_variance_``, epochs and fit time.
A Bernoulli configuration binarises the digits at 0.5 and reports the
importance-weighted bound (``k = 100``) next to the independent-pixel
Bernoulli model fitted on the training digits. Each configuration also saves
a grid of 64 samples (``samples-<name>.png``) to judge by eye.

Usage (from the repository root)::

    python -m benchmarks.calibration --data ../shared/data/mnist --out calibration.json
    python -m benchmarks.calibration --data ../shared/data/mnist --configs auto-2,5000-2

A configuration is ``<alpha>-<latent_dim>`` (``auto-8``, ``5000-2``) or
``bernoulli-<alpha>-<latent_dim>``. ``--digits`` runs on scikit-learn's 8x8
digits instead (no ``--data`` needed).
"""

import argparse
import json
import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from benchmarks.data import scaled
from skvae import VariationalAutoencoder
from skvae.datasets import load_mnist

DEFAULT_CONFIGS = "1000-2,5000-2,20000-2,auto-2,5000-8,auto-8,5000-16,auto-16,bernoulli-auto-8"
IWAE_DRAWS = 100


def parse_config(text):
    parts = text.split("-")
    likelihood = "bernoulli" if parts[0] == "bernoulli" else "gaussian"
    alpha, latent_dim = parts[-2], int(parts[-1])
    return {
        "name": text,
        "likelihood": likelihood,
        "alpha": alpha if alpha == "auto" else float(alpha),
        "latent_dim": latent_dim,
    }


def independent_bernoulli_score(X_train, X_test):
    """Mean log-probability of ``X_test`` under independent pixels fitted on ``X_train``."""
    # Laplace smoothing keeps pixels never on in training from costing infinity.
    p = (X_train.sum(0) + 1) / (len(X_train) + 2)
    return float(np.mean(X_test @ np.log(p) + (1 - X_test) @ np.log1p(-p)))


def run(config, X_train, X_test, *, seed, out_dir):
    binary = config["likelihood"] == "bernoulli"
    if binary:
        X_train, X_test = ((X > 0.5).astype(np.float32) for X in (X_train, X_test))
    vae = VariationalAutoencoder(
        latent_dim=config["latent_dim"],
        alpha=config["alpha"],
        likelihood=config["likelihood"],
        random_state=seed,
    )
    start = time.perf_counter()
    vae.fit(X_train)
    fit_seconds = time.perf_counter() - start
    flat_test = X_test.reshape(len(X_test), -1)
    reconstruction = vae.inverse_transform(vae.transform(X_test)).reshape(len(X_test), -1)
    pca = PCA(config["latent_dim"], random_state=seed).fit(X_train.reshape(len(X_train), -1))
    pca_reconstruction = pca.inverse_transform(pca.transform(flat_test))
    result = {
        **config,
        "score": vae.score(X_test),
        "mse": float(np.mean((reconstruction - flat_test) ** 2)),
        "pca_score": float(pca.score(flat_test)),
        "pca_mse": float(np.mean((pca_reconstruction - flat_test) ** 2)),
        "decoder_variance": vae.decoder_variance_,
        "epochs": vae.n_iter_,
        "fit_seconds": round(fit_seconds, 1),
    }
    result["mse_ratio_to_pca"] = result["mse"] / result["pca_mse"]
    result["score_minus_pca"] = result["score"] - result["pca_score"]
    if binary:
        result["iwae100"] = vae.set_params(n_importance_samples=IWAE_DRAWS).score(X_test)
        result["independent_bernoulli"] = independent_bernoulli_score(
            X_train.reshape(len(X_train), -1), flat_test
        )
        result["iwae100_minus_independent"] = result["iwae100"] - result["independent_bernoulli"]
    if out_dir:
        save_samples(vae, os.path.join(out_dir, f"samples-{config['name']}.png"), seed)
    return result


def save_samples(vae, path, seed):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from skvae.plotting import SamplesDisplay
    except ImportError:
        return
    figure, ax = plt.subplots(figsize=(5, 5))
    SamplesDisplay.from_estimator(vae, 64, random_state=seed, ax=ax)
    ax.set_title(path.rsplit("samples-", 1)[-1].removesuffix(".png"))
    figure.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="directory with the MNIST IDX files")
    source.add_argument("--digits", action="store_true", help="scikit-learn's 8x8 digits")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="comma-separated")
    parser.add_argument("--out", help="append one JSON line per configuration here")
    parser.add_argument("--pictures", help="folder for the sample grids")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.digits:
        X = (load_digits().data / 16).astype(np.float32).reshape(-1, 8, 8, 1)
    else:
        images, _ = load_mnist(args.data)
        X = scaled(images)[..., None]
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=args.seed)
    if args.pictures:
        os.makedirs(args.pictures, exist_ok=True)
    for text in args.configs.split(","):
        result = run(parse_config(text), X_train, X_test, seed=args.seed, out_dir=args.pictures)
        line = json.dumps(result)
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as file:
                file.write(line + "\n")


if __name__ == "__main__":
    main()
