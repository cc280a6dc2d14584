"""
=========================
Quick start on 8x8 digits
=========================

Fit a variational autoencoder on scikit-learn's bundled digits, compare its
held-out reconstruction error and log-likelihood with :class:`~sklearn.decomposition.PCA`
at the same latent size, and look at the 2-D latent space it learned.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skvae import VariationalAutoencoder
from skvae.plotting import LatentSpaceDisplay, LossCurveDisplay, ReconstructionDisplay

# SKVAE_EXAMPLES_SMOKE=1 runs every example with tiny settings (for the tests).
SMOKE = os.environ.get("SKVAE_EXAMPLES_SMOKE") == "1"

# %%
# Data: 1797 images of 8x8 pixels, scaled to [0, 1]
# -------------------------------------------------
digits = load_digits()
X = digits.data / 16
X_train, X_test, y_train, y_test = train_test_split(
    X, digits.target, test_size=0.25, random_state=0, stratify=digits.target
)

# %%
# Fit
# ---
# ``alpha`` weighs the per-pixel squared error against the KL term; 1000
# means a decoder noise of ``sqrt(64 / 2000) ~ 0.18`` per pixel.
# The rows are 8x8 images: image_shape gives them a convolutional network.
vae = VariationalAutoencoder(
    latent_dim=2, image_shape=(8, 8), alpha=1000, epochs=2 if SMOKE else 40, random_state=0
)
vae.fit(X_train)
pca = PCA(n_components=2).fit(X_train)


def reconstruction_mse(model):
    return np.mean((model.inverse_transform(model.transform(X_test)) - X_test) ** 2)


print(f"epochs run: {vae.n_iter_}")
vae_mse, pca_mse = reconstruction_mse(vae), reconstruction_mse(pca)
print(f"held-out MSE per pixel    VAE {vae_mse:.4f}  PCA {pca_mse:.4f}")
print(f"held-out log-likelihood   VAE {vae.score(X_test):.1f}  PCA {pca.score(X_test):.1f} nats")

# %%
# What it learned
# ---------------
# The latent means of held-out digits, coloured by class, and a few
# reconstructions.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), width_ratios=[1, 1.4])
LatentSpaceDisplay.from_estimator(vae, X_test, y_test, ax=axes[0])
axes[0].set_title("latent means")
ReconstructionDisplay.from_estimator(vae, X_test, n_images=8, ax=axes[1])
axes[1].set_title("held-out digits and reconstructions")
plt.show()

# %%
# Training curves
# ---------------
LossCurveDisplay.from_estimator(vae)
plt.show()
