"""
=====================================
Interpolation and generation on MNIST
=====================================

Fit on 28x28 MNIST digits read with :func:`skvae.datasets.load_mnist`, then
walk along straight lines between the latent means of real digits and decode
fresh draws from the prior.

The MNIST directory (``images-idx3-ubyte.gz`` and ``labels-idx1-ubyte.gz``)
is the first command-line argument, or ``$SKVAE_MNIST_DIR``, or
``../shared/data/mnist`` next to the repository. Nothing is downloaded: when
the files are absent the example says so and stops.
"""

import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from skvae import VariationalAutoencoder
from skvae.datasets import load_mnist
from skvae.plotting import InterpolationDisplay, LatentSpaceDisplay, SamplesDisplay

SMOKE = os.environ.get("SKVAE_EXAMPLES_SMOKE") == "1"


def mnist_directory():
    # sys.argv belongs to this script only when it is run directly; under
    # sphinx-gallery it holds sphinx-build's arguments.
    if Path(sys.argv[0]).stem == "plot_mnist_generation" and len(sys.argv) > 1:
        return Path(sys.argv[1])
    if os.environ.get("SKVAE_MNIST_DIR"):
        return Path(os.environ["SKVAE_MNIST_DIR"])
    # sphinx-gallery defines no __file__ but runs examples from their folder.
    script = Path(globals().get("__file__", "plot_mnist_generation.py")).resolve()
    return script.parents[2] / "shared" / "data" / "mnist"


directory = mnist_directory()
if not (directory / "images-idx3-ubyte.gz").exists():
    images = labels = None
    print(f"MNIST not found in {directory}; skipping this example.")
else:
    images, labels = load_mnist(directory)
    n_samples = 500 if SMOKE else 6000
    X = images[:n_samples, :, :, None].astype(np.float32) / 255
    y = labels[:n_samples]
    print(f"{len(X)} MNIST digits of shape {X.shape[1:]}")

# %%
# Fit
# ---
# ``alpha=5000`` means a decoder noise of ``sqrt(784 / 10000) ~ 0.28`` per
# pixel; a larger learning rate trains in a dozen epochs. Eight latent
# dimensions give sharper digits than two (which blur 3, 5 and 8 together
# after this little training), at the cost of a latent map that shows only
# two of the eight axes.
if images is not None:
    vae = VariationalAutoencoder(
        latent_dim=8,
        alpha=5000,
        conv_filters=(16, 32),
        conv_strides=(2, 2),
        learning_rate=2e-3,
        epochs=1 if SMOKE else 12,
        random_state=0,
    ).fit(X)
    print(f"{vae.n_iter_} epochs, score {vae.score(X[:1000]):.1f} nats per image")

# %%
# Latent space and interpolations between real digits
# ---------------------------------------------------
if images is not None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), width_ratios=[1, 1.6])
    LatentSpaceDisplay.from_estimator(vae, X[:2000], y[:2000], ax=axes[0])
    axes[0].set_title("latent means, first two of eight axes")
    first = [int(np.flatnonzero(y == digit)[0]) for digit in range(10)]
    starts, ends = X[[first[d] for d in (0, 1, 3, 4)]], X[[first[d] for d in (6, 7, 8, 9)]]
    InterpolationDisplay.from_estimator(vae, starts, ends, n_steps=9, ax=axes[1])
    axes[1].set_title("0 to 6, 1 to 7, 3 to 8, 4 to 9")
    plt.show()

# %%
# New digits from the prior
# -------------------------
if images is not None:
    display = SamplesDisplay.from_estimator(vae, 64, random_state=0)
    display.ax_.set_title("decoded draws from N(0, I)")
    plt.show()
