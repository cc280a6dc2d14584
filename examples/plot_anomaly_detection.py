"""
========================================
Anomaly detection with ``score_samples``
========================================

``score_samples`` is a lower bound on each sample's log-likelihood. Images
unlike the training data get low scores: here digits whose pixels were
shuffled, and the real digits the model finds least typical.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skvae import VariationalAutoencoder
from skvae.plotting import SamplesDisplay

SMOKE = os.environ.get("SKVAE_EXAMPLES_SMOKE") == "1"

X = load_digits().data / 16
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
if SMOKE:
    X_train = X_train[:200]

# %%
# Anomalies: the same pixels in a random order
# --------------------------------------------
rng = np.random.default_rng(0)
X_shuffled = rng.permuted(X_test[:100], axis=1)

vae = VariationalAutoencoder(latent_dim=4, alpha=1000, epochs=2 if SMOKE else 40, random_state=0)
vae.fit(X_train)
normal_scores = vae.score_samples(X_test)
anomaly_scores = vae.score_samples(X_shuffled)

is_anomaly = np.r_[np.zeros(len(X_test)), np.ones(len(X_shuffled))]
auc = roc_auc_score(is_anomaly, -np.r_[normal_scores, anomaly_scores])
print(f"ROC AUC of -score_samples for shuffled digits: {auc:.3f}")

# %%
# Score distributions
# -------------------
fig, ax = plt.subplots(figsize=(6, 3.5))
bins = np.linspace(min(anomaly_scores.min(), normal_scores.min()), normal_scores.max(), 40)
ax.hist(normal_scores, bins=bins, alpha=0.7, label="held-out digits")
ax.hist(anomaly_scores, bins=bins, alpha=0.7, label="shuffled pixels")
ax.set_xlabel("score_samples (nats)")
ax.legend()
plt.show()

# %%
# The least typical real digits
# -----------------------------
# The lowest-scoring held-out digits are often badly written or cut off.
lowest = np.argsort(normal_scores)[:8]
display = SamplesDisplay(X_test[lowest], image_shape=(8, 8)).plot(n_cols=8)
display.ax_.set_title("lowest score_samples among held-out digits")
plt.show()
