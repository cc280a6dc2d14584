"""How ``score_samples`` draws its latent samples: reproducible, per row, chunked."""

import math

import numpy as np
import pytest

from skvae import VariationalAutoencoder, _scoring, _seeding


@pytest.fixture(scope="module")
def fitted(digits):
    X = digits[0][:200]
    vae = VariationalAutoencoder(
        latent_dim=2, architecture="dense", hidden_layer_sizes=(8,), epochs=2, random_state=0
    ).fit(X)
    return vae, X


@pytest.mark.parametrize("n_importance_samples", [1, 7])
def test_a_score_depends_only_on_its_own_row(fitted, n_importance_samples):
    vae, X = fitted
    vae.set_params(n_importance_samples=n_importance_samples)
    scores = vae.score_samples(X[:20])
    np.testing.assert_array_equal(vae.score_samples(X[:20]), scores)
    np.testing.assert_array_equal(vae.score_samples(X[[5]]), scores[[5]])
    np.testing.assert_array_equal(vae.score_samples(X[19::-1]), scores[::-1])
    # float64 input holding the same float32 values gets the same draws.
    np.testing.assert_array_equal(vae.score_samples(np.float64(X[:20])), scores)


def test_each_row_gets_its_own_draws(fitted):
    vae, X = fitted

    def row_noise(x, n_draws):
        return _seeding.row_noise(x, n_draws, vae.latent_dim, vae._inference_seed)

    noise = row_noise(np.concatenate([X[:3], X[:1]]), 4)
    assert noise.shape == (4, 4, vae.latent_dim)
    np.testing.assert_array_equal(noise[3], noise[0])  # a repeated row repeats its draws
    assert not np.any(noise[1] == noise[0])
    # More draws extend the same stream: the k draws are nested in the 2k draws.
    np.testing.assert_array_equal(row_noise(X[:3], 8)[:, :4], noise[:3])


def test_the_mean_score_carries_no_noise_shared_by_all_rows(fitted):
    # Regression: one draw shared by every row shifted all ELBOs alike, so
    # score() kept the noise of a single draw however many rows it averaged
    # (a spread of ~3 nats on 500 MNIST digits). With independent draws the
    # difference between two scoring seeds averages out across rows.
    vae, X = fitted
    vae.set_params(n_importance_samples=1)
    seed = vae._inference_seed
    try:
        first = vae.score_samples(X)
        vae._inference_seed = seed + 1
        difference = vae.score_samples(X) - first
    finally:
        vae._inference_seed = seed
    standard_error = difference.std(ddof=1) / math.sqrt(len(difference))
    assert abs(difference.mean()) < 4 * standard_error
    assert difference.std() > 0  # the seeds did change the draws


@pytest.mark.parametrize("n_importance_samples", [7, 100])
def test_chunked_scoring_equals_row_by_row_scoring(fitted, monkeypatch, n_importance_samples):
    # 7 draws: several rows per in-graph chunk, the last one padded. 100
    # draws: more than one chunk decodes, so each row's draws are split.
    vae, X = fitted
    vae.set_params(n_importance_samples=n_importance_samples)
    whole = vae.score_samples(X[:30])
    monkeypatch.setattr(_scoring, "INFERENCE_BATCH_SIZE", 1)
    np.testing.assert_allclose(vae.score_samples(X[:30]), whole, rtol=1e-12, atol=1e-9)
