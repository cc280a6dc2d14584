"""The pictures and files of the command line; the demo's data and evaluation.

:mod:`skvae._cli` parses the options, builds and fits the estimator, prints
and turns errors into one line. This module prepares the demo's digits,
compares the fitted model with PCA and writes the report (pictures,
``index.html``, ``results.json``), and draws the picture of ``skvae sample``.
Needs matplotlib. Figures are made without pyplot: no GUI backend is
involved and a caller's open figures are left alone.
"""

import contextlib
import html
import json
import os
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from .plotting import (
    InterpolationDisplay,
    LatentSpaceDisplay,
    LossCurveDisplay,
    ReconstructionDisplay,
    SamplesDisplay,
)

# Standard deviation of the pixel noise of the denoising comparison.
NOISE = 0.25

PICTURES = {
    "latent_space.png": "Latent means of the held-out digits, coloured by digit class.",
    "reconstructions.png": "Held-out digits (top) and their reconstructions "
    "inverse_transform(transform(x)) (bottom).",
    "samples.png": "New digits: decoded draws from the prior N(0, I) (sample).",
    "interpolation.png": "Decoded straight lines in latent space between pairs of real "
    "held-out digits (interpolate).",
    "denoising.png": "Held-out digits, the same digits with Gaussian noise (standard "
    f"deviation {NOISE}), and what the model reconstructs from the noisy input.",
    "loss_curves.png": "Training and validation losses per epoch (history_).",
}

# results.json keys of the comparison, with their labels in index.html and
# on the terminal, and the decimals printed there.
_METRICS = [
    (
        "reconstruction_mse",
        "held-out reconstruction MSE per pixel (lower is better)",
        "reconstruction MSE / pixel",
        4,
    ),
    (
        "score",
        "held-out log-likelihood, nats per digit (higher is better)",
        "log-likelihood (nats)",
        1,
    ),
    (
        "denoising_mse",
        "MSE of reconstructions from corrupted digits (lower is better)",
        "denoising MSE / pixel",
        4,
    ),
]


@dataclass(frozen=True)
class Digits:
    """scikit-learn's 8x8 digits in [0, 1], split for training and evaluation."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_corrupted: np.ndarray  # X_test with Gaussian pixel noise, clipped to [0, 1]
    image_shape: tuple = (8, 8)  # of each row


def load_digits_split(seed: int) -> Digits:
    """A stratified 75/25 split of the digits, and a noisy copy of the test part."""
    digits = load_digits()
    X = (digits.data / 16).astype(np.float32)
    X_train, X_test, _, y_test = train_test_split(
        X, digits.target, test_size=0.25, random_state=seed, stratify=digits.target
    )
    noise = np.random.default_rng(seed).standard_normal(X_test.shape)
    X_corrupted = np.clip(X_test + NOISE * noise, 0, 1).astype(X_test.dtype)
    return Digits(X_train, X_test, y_test, X_corrupted)


def evaluate(vae, digits: Digits, *, seed: int, fit_seconds: float) -> dict:
    """The fitted ``vae`` and a PCA of the same size on the held-out digits."""
    pca = PCA(vae.latent_dim, random_state=seed).fit(digits.X_train)

    def metrics(model):
        def mse(inputs):
            reconstruction = model.inverse_transform(model.transform(inputs))
            return float(np.mean((reconstruction - digits.X_test) ** 2))

        return {
            "reconstruction_mse": mse(digits.X_test),
            "score": float(model.score(digits.X_test)),
            "denoising_mse": mse(digits.X_corrupted),
        }

    return {
        "n_train": len(digits.X_train),
        "n_test": len(digits.X_test),
        "latent_dim": vae.latent_dim,
        "alpha": vae.alpha,
        "epochs_run": vae.n_iter_,
        "fit_seconds": round(fit_seconds, 2),
        "vae": metrics(vae),
        "pca": metrics(pca),
    }


def summary(results: dict) -> str:
    """The comparison as a few lines of text for the terminal."""
    lines = [
        f"Fitted {results['epochs_run']} epochs in {results['fit_seconds']:.1f} s.",
        f"{'held-out':28}{'VAE':>10}{'PCA':>10}",
    ]
    for key, _, label, decimals in _METRICS:
        vae, pca = results["vae"][key], results["pca"][key]
        lines.append(f"{label:28}{vae:10.{decimals}f}{pca:10.{decimals}f}")
    return "\n".join(lines)


def write_report(out: str, vae, digits: Digits, results: dict, *, seed: int) -> None:
    """Write the pictures of :data:`PICTURES`, ``results.json`` and ``index.html`` to ``out``."""

    @contextlib.contextmanager
    def picture(name, figsize, title):
        figure = Figure(figsize=figsize)
        ax = figure.subplots()
        yield ax
        ax.set_title(title)
        _save(figure, os.path.join(out, name))

    X_test, y_test = digits.X_test, digits.y_test
    with picture("latent_space.png", (6, 5), "Latent space (held-out digits)") as ax:
        display = LatentSpaceDisplay.from_estimator(vae, X_test, y_test, ax=ax)
        display.colorbar_.set_label("digit")
    with picture("reconstructions.png", (8, 2), "Held-out digits and their reconstructions") as ax:
        ReconstructionDisplay.from_estimator(vae, X_test, n_images=12, ax=ax)
    with picture("samples.png", (6, 6), "Samples from the prior") as ax:
        SamplesDisplay.from_estimator(vae, 64, random_state=seed, ax=ax)
    pairs = _interpolation_pairs(y_test)
    starts, ends = (X_test[[pair[i] for pair in pairs]] for i in (0, 1))
    size = (8, 0.9 * len(pairs) + 0.6)
    with picture("interpolation.png", size, "Interpolation between real digits") as ax:
        InterpolationDisplay.from_estimator(vae, starts, ends, n_steps=10, ax=ax)
    title = "Denoising: inverse_transform(transform(corrupted))"
    with picture("denoising.png", (8, 2.6), title) as ax:
        ReconstructionDisplay.from_estimator(
            vae, X_test, X_corrupted=digits.X_corrupted, n_images=12, ax=ax
        )

    figure = Figure(figsize=(12, 3.2), layout="constrained")
    curves = [
        ("loss", "negative ELBO (nats)" if vae.alpha == "auto" else "alpha * MSE + KL"),
        ("reconstruction_loss", "MSE per pixel"),
        ("kl_loss", "KL to the prior (nats)"),
    ]
    for ax, (key, title) in zip(figure.subplots(1, 3), curves, strict=True):
        LossCurveDisplay.from_estimator(vae, ax=ax, keys=(key, f"val_{key}"))
        ax.set_title(title)
    _save(figure, os.path.join(out, "loss_curves.png"))

    with open(os.path.join(out, "results.json"), "w") as file:
        json.dump(results, file, indent=2)
    with open(os.path.join(out, "index.html"), "w", encoding="utf-8") as file:
        file.write(_index_html(results))


def save_samples_picture(samples: np.ndarray, image_shape: tuple, path: str) -> None:
    """Save a grid of ``samples`` (rows or images of ``image_shape``) to ``path``.

    The format follows the suffix of ``path`` (.png, .pdf, .svg, ...).
    """
    figure = Figure(figsize=(6, 6))
    SamplesDisplay(samples, image_shape=image_shape).plot(ax=figure.subplots())
    _save(figure, path)


def _save(figure, path):
    figure.savefig(path, dpi=110, bbox_inches="tight")


def _interpolation_pairs(y):
    """Indices of the first test digits of a few contrasting classes."""
    first = {
        digit: int(next(i for i, label in enumerate(y) if label == digit)) for digit in set(y)
    }
    pairs = [(0, 6), (1, 7), (3, 8), (4, 9), (2, 5)]
    return [(first[a], first[b]) for a, b in pairs if a in first and b in first]


def _index_html(results):
    rows = "\n".join(
        f"<tr><td>{html.escape(description)}</td><td>{results['vae'][key]:.4g}</td>"
        f"<td>{results['pca'][key]:.4g}</td></tr>"
        for key, description, _, _ in _METRICS
    )
    figures = "\n".join(
        f'<figure><img src="{name}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, caption in PICTURES.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>skvae demo report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
td,th{{padding:.2em 1em}}img{{max-width:100%}}figure{{margin:2em 0}}</style></head>
<body><h1>skvae demo: a variational autoencoder on scikit-learn's digits</h1>
<p>{results["n_train"]} training and {results["n_test"]} held-out 8x8 digits,
latent_dim={results["latent_dim"]}, alpha={results["alpha"]},
{results["epochs_run"]} epochs in {results["fit_seconds"]:.1f} s.
PCA uses the same number of components; its score is the probabilistic PCA likelihood,
the VAE's the ELBO under its fitted decoder variance.</p>
<table><tr><th></th><th>VAE</th><th>PCA</th></tr>
{rows}
</table>
{figures}
</body></html>
"""
