"""``score_samples`` against the exact log-likelihood of a linear-Gaussian model.

Data come from probabilistic PCA, ``x = W z + b + sigma * noise`` with
``z ~ N(0, I)``, so ``p(x) = N(x; b, W W^T + sigma^2 I)`` in closed form. A
dense VAE without hidden layers and with a linear output has the decoder
``x_hat = W z + b``; choosing ``alpha = D / (2 sigma^2)`` makes its implied
decoder variance ``sigma^2``, so it *is* that model. When ``W`` has
orthogonal columns the posterior ``p(z | x)`` is a diagonal Gaussian,

    mean = M^-1 W^T (x - b),  covariance = sigma^2 M^-1,  M = W^T W + sigma^2 I,

which the encoder can represent exactly. With that encoder every importance
weight ``p(x, z) / q(z | x)`` equals ``p(x)``, so ``score_samples`` must
return the exact ``log p(x)`` for every ``k``, up to float32 rounding.
"""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.decomposition import PCA

from skvae import VariationalAutoencoder
from skvae._seeding import row_noise

N_FEATURES = 6
COLUMN_SCALES = np.array([2.0, 1.0])  # lengths of the orthogonal columns of W
NOISE_VARIANCE = 0.25
ALPHA = N_FEATURES / (2 * NOISE_VARIANCE)


def ppca_parameters():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(N_FEATURES, len(COLUMN_SCALES))))
    weights = basis * COLUMN_SCALES
    offset = rng.normal(size=N_FEATURES)
    return weights, offset


def ppca_sample(n_samples, seed):
    weights, offset = ppca_parameters()
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n_samples, weights.shape[1]))
    noise = rng.normal(scale=math.sqrt(NOISE_VARIANCE), size=(n_samples, N_FEATURES))
    return (z @ weights.T + offset + noise).astype(np.float32)


def exact_log_likelihood(X):
    weights, offset = ppca_parameters()
    covariance = weights @ weights.T + NOISE_VARIANCE * np.eye(N_FEATURES)
    return stats.multivariate_normal(offset, covariance).logpdf(np.float64(X))


def exact_posterior():
    """Encoder weights ``(mu_kernel, mu_bias, log_var_bias)`` of ``p(z | x)``."""
    weights, offset = ppca_parameters()
    precision_scale = 1.0 / (COLUMN_SCALES**2 + NOISE_VARIANCE)  # M^-1, diagonal
    mu_kernel = weights * precision_scale  # (M^-1 W^T)^T
    mu_bias = -(weights.T @ offset) * precision_scale
    log_var_bias = np.log(NOISE_VARIANCE * precision_scale)
    return mu_kernel, mu_bias, log_var_bias


def linear_vae(**params):
    return VariationalAutoencoder(
        latent_dim=len(COLUMN_SCALES),
        architecture="dense",
        hidden_layer_sizes=(),
        output_activation="linear",
        alpha=ALPHA,
        random_state=0,
        **params,
    )


@pytest.fixture(scope="module")
def exact_vae(install_linear_gaussian):
    """A linear VAE whose decoder is the PPCA model and encoder its exact posterior."""
    # The true noise variance, as the PPCA model's decoder has it.
    vae = linear_vae(epochs=1, decoder_variance=NOISE_VARIANCE).fit(ppca_sample(200, seed=1))
    weights, offset = ppca_parameters()
    mu_kernel, mu_bias, log_var_bias = exact_posterior()
    return install_linear_gaussian(vae, mu_kernel, mu_bias, log_var_bias, weights, offset)


def test_the_reference_is_the_ppca_likelihood():
    # Sanity check of the closed form against scikit-learn's probabilistic
    # PCA fitted on plenty of data (its estimates carry ~1e-2 nats of error, more in the tails).
    X = ppca_sample(2000, seed=2)
    pca = PCA(n_components=len(COLUMN_SCALES)).fit(ppca_sample(200_000, seed=3))
    assert pca.noise_variance_ == pytest.approx(NOISE_VARIANCE, rel=0.02)
    np.testing.assert_allclose(pca.score_samples(X), exact_log_likelihood(X), rtol=0.01, atol=0.05)


def test_the_encoder_sees_the_new_weights(exact_vae):
    # The compiled inference functions call the same Keras models.
    X = ppca_sample(50, seed=4)
    mu_kernel, mu_bias, log_var_bias = exact_posterior()
    np.testing.assert_allclose(exact_vae.transform(X), X @ mu_kernel + mu_bias, atol=1e-5)
    _, log_var = exact_vae._compiled.encode(X)
    np.testing.assert_allclose(log_var, np.broadcast_to(log_var_bias, log_var.shape), atol=1e-6)
    _, offset = ppca_parameters()
    np.testing.assert_allclose(exact_vae.inverse_transform(np.zeros((1, 2))), [offset], atol=1e-6)


@pytest.mark.parametrize("n_importance_samples", [2, 10, 100])
def test_importance_weighted_score_is_exact_with_the_exact_posterior(
    exact_vae, n_importance_samples
):
    X = ppca_sample(300, seed=5)
    scores = exact_vae.set_params(n_importance_samples=n_importance_samples).score_samples(X)
    # Every log weight equals log p(x) (about -10 nats here); what is left
    # is float32 rounding in the encoder and the decoder (measured ~1e-6).
    np.testing.assert_allclose(scores, exact_log_likelihood(X), rtol=0, atol=2e-5)


def test_elbo_equals_the_log_likelihood_on_average_with_the_exact_posterior(exact_vae):
    # With k = 1 the score is log p(x | z_1) - KL in closed form: its
    # expectation over z_1 is log p(x), but one draw is not, so the check is
    # the mean over samples, whose draws are independent.
    X = ppca_sample(2000, seed=6)
    gap = exact_vae.set_params(n_importance_samples=1).score_samples(X) - exact_log_likelihood(X)
    standard_error = gap.std(ddof=1) / math.sqrt(len(gap))
    assert abs(gap.mean()) < 4 * standard_error
    assert gap.std() > 0.1  # the single-draw noise exists, or the check above is vacuous


def test_elbo_matches_its_formula_for_each_draw(exact_vae):
    # Per sample, the k = 1 score is log N(x; W z + b, sigma^2 I) - KL at the
    # draw z = mu + sigma_q * eps, recomputed here in float64.
    X = ppca_sample(100, seed=7)
    weights, offset = ppca_parameters()
    mu_kernel, mu_bias, log_var_bias = exact_posterior()
    mu = np.float64(X) @ mu_kernel + mu_bias
    eps = row_noise(X, 1, len(COLUMN_SCALES), exact_vae._inference_seed)[:, 0, :]
    z = mu + np.exp(0.5 * log_var_bias) * eps
    log_likelihood = stats.norm.logpdf(
        X, loc=z @ weights.T + offset, scale=math.sqrt(NOISE_VARIANCE)
    ).sum(axis=1)
    kl = 0.5 * np.sum(mu**2 + np.exp(log_var_bias) - 1 - log_var_bias, axis=1)
    scores = exact_vae.set_params(n_importance_samples=1).score_samples(X)
    np.testing.assert_allclose(scores, log_likelihood - kl, rtol=0, atol=2e-5)


# Trains to convergence (about 15 s): slow.
@pytest.mark.slow
def test_a_trained_linear_vae_approaches_the_exact_log_likelihood():
    # A linear VAE with the true decoder variance can represent the exact
    # model, and its ELBO optimum is the maximum-likelihood PPCA fit (Lucas
    # et al., 2019). Fitted on 2,000 samples, that fit (sklearn's PCA) scores
    # 0.005 nats per sample below the true model on held-out data, and the
    # VAE, trained to convergence (early stopping off: its validation loss is
    # too noisy here), 0.008 below with k = 100 and 0.02 with the ELBO. The
    # tolerance of 0.05 nats (of about -6.6) leaves room for the optimiser's
    # jitter; a VAE stuck away from the optimum (e.g. stopped at 44 epochs)
    # is 0.12 below. Beating the true model by more than noise is impossible.
    X_train = ppca_sample(2000, seed=8)
    vae = linear_vae(
        epochs=100,
        learning_rate=1e-2,
        validation_fraction=0.0,
        early_stopping=False,
        n_importance_samples=100,
    ).fit(X_train)
    X_test = ppca_sample(2000, seed=9)
    exact = exact_log_likelihood(X_test).mean()
    maximum_likelihood = PCA(n_components=len(COLUMN_SCALES)).fit(X_train).score(X_test)
    assert maximum_likelihood == pytest.approx(exact, abs=0.02)
    iwae = vae.score(X_test)
    elbo = vae.set_params(n_importance_samples=1).score(X_test)
    assert exact - 0.05 < iwae < exact + 0.02
    assert exact - 0.05 < elbo < iwae
