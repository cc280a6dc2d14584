"""
==================================================
Latent features for a classifier in a ``Pipeline``
==================================================

``VariationalAutoencoder`` is a transformer, so its latent means can feed a
classifier inside a :class:`~sklearn.pipeline.Pipeline`. Here a logistic
regression on 8 latent dimensions is compared with the same classifier on 8
PCA components, with 3-fold cross-validation.
"""

import os

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvae import VariationalAutoencoder

SMOKE = os.environ.get("SKVAE_EXAMPLES_SMOKE") == "1"

digits = load_digits()
X, y = digits.data / 16, digits.target
if SMOKE:
    X, y = X[:150], y[:150]

# %%
# Two pipelines with the same classifier
# --------------------------------------
latent_dim = 8
pipelines = {
    "VAE": make_pipeline(
        VariationalAutoencoder(
            latent_dim=latent_dim,
            image_shape=(8, 8),
            conv_filters=(16, 32),
            conv_strides=(2, 2),
            epochs=1 if SMOKE else 25,
            random_state=0,
        ),
        StandardScaler(),
        LogisticRegression(max_iter=1000),
    ),
    "PCA": make_pipeline(
        PCA(n_components=latent_dim), StandardScaler(), LogisticRegression(max_iter=1000)
    ),
}
scores = {name: cross_val_score(pipe, X, y, cv=3) for name, pipe in pipelines.items()}
for name, fold_scores in scores.items():
    print(f"{name}: accuracy {fold_scores.mean():.3f} +/- {fold_scores.std():.3f}")

# %%
# Accuracy per fold
# -----------------
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.boxplot(list(scores.values()), tick_labels=list(scores))
ax.set_ylabel("accuracy (3-fold CV)")
ax.set_title(f"Logistic regression on {latent_dim} latent features")
plt.show()
