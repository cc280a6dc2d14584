"""The ``skvae`` command line: ``demo`` (the default), ``fit`` and ``sample``."""

import argparse
import json
import os
import sys
import time

DEFAULT_REPORT_DIR = "skvae-report"


class _UsageError(Exception):
    """A problem with the user's arguments or files: one line, exit code 2."""


def _parser():
    parser = argparse.ArgumentParser(
        prog="skvae",
        description="Train and use a convolutional variational autoencoder.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="train on scikit-learn's bundled digits and write a report (default)",
        description="Train on scikit-learn's 8x8 digits, compare with PCA on a held-out "
        "split and write a report folder.",
    )
    demo.add_argument("--out", default=DEFAULT_REPORT_DIR, help="report folder (default: %(default)s)")
    demo.add_argument("--epochs", type=int, default=60, help="maximum epochs (default: %(default)s)")
    demo.add_argument("--latent-dim", type=int, default=2, help="latent size (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    return parser


def _demo(args):
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split

    from . import VariationalAutoencoder

    digits = load_digits()
    X = (digits.data / 16).astype(np.float32)
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=args.seed)
    print(f"Training on {len(X_train)} digits, holding out {len(X_test)}...", flush=True)
    vae = VariationalAutoencoder(
        latent_dim=args.latent_dim, alpha=100.0, epochs=args.epochs, random_state=args.seed, verbose=1
    )
    start = time.perf_counter()
    vae.fit(X_train)
    fit_seconds = time.perf_counter() - start
    pca = PCA(args.latent_dim).fit(X_train)
    results = {
        "n_train": len(X_train),
        "n_test": len(X_test),
        "latent_dim": args.latent_dim,
        "epochs_run": vae.n_iter_,
        "fit_seconds": round(fit_seconds, 2),
        "vae_reconstruction_mse": float(np.mean((vae.inverse_transform(vae.transform(X_test)) - X_test) ** 2)),
        "pca_reconstruction_mse": float(np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2)),
        "vae_score": vae.score(X_test),
        "pca_score": float(pca.score(X_test)),
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as file:
        json.dump(results, file, indent=2)
    print(f"\n{'':24}{'VAE':>12}{'PCA':>12}")
    print(f"{'held-out MSE / pixel':24}{results['vae_reconstruction_mse']:12.4f}{results['pca_reconstruction_mse']:12.4f}")
    print(f"{'held-out score (nats)':24}{results['vae_score']:12.1f}{results['pca_score']:12.1f}")
    print(f"\nReport written to {args.out}/")
    return 0


def main(argv=None):
    """Entry point of ``skvae`` and ``python -m skvae``; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = _parser().parse_args(argv)
    if args.command is None:
        args = _parser().parse_args(["demo", *(argv or sys.argv[1:])])
    try:
        return {"demo": _demo}[args.command](args)
    except _UsageError as error:
        print(f"skvae: error: {error}", file=sys.stderr)
        return 2
