"""
==========================
Denoising corrupted digits
==========================

A variational autoencoder maps a noisy image to the latent point of a clean
one, so ``inverse_transform(transform(noisy))`` removes much of the noise.
PCA with the same number of components is the linear baseline.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skvae import VariationalAutoencoder
from skvae.plotting import ReconstructionDisplay

SMOKE = os.environ.get("SKVAE_EXAMPLES_SMOKE") == "1"

X = load_digits().data / 16
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
if SMOKE:
    X_train = X_train[:200]

# %%
# Corrupt the held-out digits
# ---------------------------
rng = np.random.default_rng(0)
X_noisy = np.clip(X_test + 0.3 * rng.standard_normal(X_test.shape), 0, 1)

# %%
# Train on clean digits, reconstruct from noisy ones
# --------------------------------------------------
latent_dim = 8
vae = VariationalAutoencoder(
    latent_dim=latent_dim,
    image_shape=(8, 8),
    alpha=1000,
    epochs=2 if SMOKE else 60,
    random_state=0,
).fit(X_train)
pca = PCA(n_components=latent_dim).fit(X_train)

for name, model in {"VAE": vae, "PCA": pca}.items():
    denoised = model.inverse_transform(model.transform(X_noisy))
    print(f"{name}: MSE to the clean digits {np.mean((denoised - X_test) ** 2):.4f}")
print(f"noisy input: MSE {np.mean((X_noisy - X_test) ** 2):.4f}")

# %%
# Clean, noisy and denoised
# -------------------------
fig, axes = plt.subplots(2, 1, figsize=(8, 5))
ReconstructionDisplay.from_estimator(vae, X_test, X_corrupted=X_noisy, n_images=12, ax=axes[0])
axes[0].set_title("VAE")
ReconstructionDisplay(
    X_test[:12],
    pca.inverse_transform(pca.transform(X_noisy[:12])),
    corrupted=X_noisy[:12],
    image_shape=(8, 8),
).plot(ax=axes[1])
axes[1].set_title("PCA")
plt.show()
