"""Section 3: quality against PCA."""

import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from benchmarks.data import scaled
from benchmarks.harness import skvae_estimator, timed
from skvae import VariationalAutoencoder


def bench_quality(sizes, images, report):
    """Held-out reconstruction error and log-likelihood against PCA at equal latent size."""
    X = scaled(images.reshape(len(images), -1))
    X_train, X_test = train_test_split(X, train_size=sizes.quality_train_fraction, random_state=0)
    # The quality a user gets: skvae's default alpha and batch size, not the
    # hand-written model's twin settings that the timing sections share.
    defaults = VariationalAutoencoder().get_params()
    params = dict(alpha=defaults["alpha"], batch_size=defaults["batch_size"], random_state=0)
    results = {}
    for k in sizes.quality_latent_dims:
        pca_seconds, pca = timed(lambda k=k: PCA(k, random_state=0).fit(X_train))
        vae_seconds, vae = timed(
            lambda k=k: skvae_estimator(
                sizes, latent_dim=k, epochs=sizes.quality_epochs, **params
            ).fit(X_train)
        )
        pca_mse = float(np.mean((X_test - pca.inverse_transform(pca.transform(X_test))) ** 2))
        vae_mse = float(np.mean((X_test - vae.inverse_transform(vae.transform(X_test))) ** 2))
        pca_score, vae_score = float(pca.score(X_test)), vae.score(X_test)
        section = f"3 quality k={k}"
        report.add(
            section,
            "held-out reconstruction MSE (vs PCA; ratio PCA/skvae)",
            vae_mse,
            "",
            reference=pca_mse,
            ratio=pca_mse / vae_mse,
        )
        report.add(section, "held-out score, nats/image (vs PCA)", vae_score, "", pca_score)
        report.add(
            section,
            f"fit time ({vae.n_iter_} epochs on {len(X_train)}; vs PCA)",
            vae_seconds,
            "s",
            reference=pca_seconds,
        )
        results[k] = dict(vae_epochs=vae.n_iter_, pca_seconds=pca_seconds)
    report.details["quality"] = results
