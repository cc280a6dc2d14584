"""
========================================
Anomaly detection with ``score_samples``
========================================

``score_samples`` is a lower bound on each sample's log-likelihood, under a
decoder whose noise level was fitted to the training data. Digits unlike the
training data get low scores. Here the model is trained on the digits 1 to 9
and must flag held-out zeros, a class it never saw; its ROC AUC is compared
with two common detectors fitted on the same split: PCA's reconstruction
error and :class:`~sklearn.ensemble.IsolationForest`.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skvae import VariationalAutoencoder
from skvae.plotting import SamplesDisplay

SMOKE = os.environ.get("SKVAE_EXAMPLES_SMOKE") == "1"

digits = load_digits()
X, y = digits.data / 16, digits.target
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
X_train = X_train[y_train != 0]  # the zeros are the novelty
if SMOKE:
    X_train = X_train[:200]
is_anomaly = y_test == 0

# %%
# Three detectors, one split
# --------------------------
# Each gives an anomaly score, higher for more unusual digits: minus the
# VAE's log-likelihood bound, PCA's squared reconstruction error (with the
# same latent size), and minus the isolation forest's normality score.
vae = VariationalAutoencoder(
    latent_dim=4, image_shape=(8, 8), epochs=2 if SMOKE else 100, random_state=0
)
vae.fit(X_train)
pca = PCA(n_components=4, random_state=0).fit(X_train)
forest = IsolationForest(random_state=0).fit(X_train)

anomaly_scores = {
    "VAE -score_samples": -vae.score_samples(X_test),
    "PCA reconstruction error": np.sum(
        (X_test - pca.inverse_transform(pca.transform(X_test))) ** 2, axis=1
    ),
    "IsolationForest -score_samples": -forest.score_samples(X_test),
}
for name, score in anomaly_scores.items():
    print(f"ROC AUC, {name:32}: {roc_auc_score(is_anomaly, score):.3f}")

# %%
# Score distributions
# -------------------
normal_scores = -anomaly_scores["VAE -score_samples"]
fig, ax = plt.subplots(figsize=(6, 3.5))
bins = np.linspace(normal_scores.min(), normal_scores.max(), 40)
ax.hist(normal_scores[~is_anomaly], bins=bins, alpha=0.7, label="digits 1-9 (seen)")
ax.hist(normal_scores[is_anomaly], bins=bins, alpha=0.7, label="zeros (never seen)")
ax.set_xlabel("score_samples (nats)")
ax.legend()
plt.show()

# %%
# The least typical digits
# ------------------------
# The lowest-scoring held-out digits: mostly zeros, and badly written others.
lowest = np.argsort(normal_scores)[:8]
display = SamplesDisplay(X_test[lowest], image_shape=(8, 8)).plot(n_cols=8)
display.ax_.set_title("lowest score_samples among held-out digits")
plt.show()
