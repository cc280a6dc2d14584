"""Direct tests of ``skvae._inference.CompiledVAE`` against the Keras models it wraps.

Batch sizes cover each path of the module: no rows, one row (padded to
two), up to one chunk of 64 rows (one call), and more (the in-graph loop
over chunks, its last chunk zero-padded).
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skvae._inference import CompiledVAE
from skvae._losses import decoder_variance, gaussian_log_likelihood
from skvae._model import NetworkStructure, build_decoder, build_encoder

LATENT_DIM = 2
N_ROWS = 150  # two full chunks of 64 rows and a padded one
# A single two-filter conv layer gave one row the same bits alone as in a
# batch even unpadded, which would leave the padding untested; this conv
# network's unpadded one-row results differ in the last bits.
NETWORKS = {
    "conv": ((8, 8, 1), dict(conv_filters=(4, 8), conv_kernels=(3, 3), conv_strides=(1, 2))),
    "dense": ((6,), dict(hidden_layer_sizes=(4,))),
}
# Float32 results of the same network at different batch sizes: oneDNN picks
# kernels by batch size, and they round differently in the last bits.
FLOAT32_TOLERANCE = dict(rtol=1e-5, atol=1e-6)
# The module's promise for decoded means: a few float32 ulps.
FEW_ULPS = dict(rtol=4 * np.finfo(np.float32).eps, atol=4 * np.finfo(np.float32).eps)


@pytest.fixture(scope="module", params=list(NETWORKS))
def network(request):
    """Encoder, decoder, their CompiledVAE and ``N_ROWS`` samples, per architecture."""
    shape, structure = NETWORKS[request.param]
    structure = NetworkStructure(LATENT_DIM, architecture=request.param, **structure)
    encoder = build_encoder(shape, structure, seed=0)
    decoder = build_decoder(shape, structure, output_activation="sigmoid", seed=0)
    variance = decoder_variance(10.0, math.prod(shape))
    compiled = CompiledVAE(encoder, decoder, variance)
    X = np.random.default_rng(0).random((N_ROWS, *shape)).astype(np.float32)
    return encoder, decoder, variance, compiled, X


def latent_points(shape, seed=1):
    return np.random.default_rng(seed).normal(size=(*shape, LATENT_DIM)).astype(np.float32)


@pytest.mark.parametrize("n_rows", [0, 1, 2, 64, 65, N_ROWS])
def test_encode_and_decode_equal_the_keras_models(network, n_rows):
    encoder, decoder, _, compiled, X = network
    x, z = X[:n_rows], latent_points((n_rows,))

    mu, log_var = compiled.encode(x)
    x_hat = compiled.decode(z)

    assert mu.shape == log_var.shape == (n_rows, LATENT_DIM)
    assert x_hat.shape == x.shape
    assert mu.dtype == log_var.dtype == x_hat.dtype == np.float32
    if n_rows:  # Keras models cannot be called on an empty batch
        expected_mu, expected_log_var = encoder(x, training=False)
        np.testing.assert_allclose(mu, expected_mu, **FLOAT32_TOLERANCE)
        np.testing.assert_allclose(log_var, expected_log_var, **FLOAT32_TOLERANCE)
        np.testing.assert_allclose(x_hat, decoder(z, training=False), **FLOAT32_TOLERANCE)


@pytest.mark.parametrize(
    "n_rows, n_draws",
    [
        (0, 3),
        (1, 1),  # padded to two rows
        (3, 5),  # one call
        (20, 5),  # chunks of 12 rows x 5 draws
        (2, 70),  # blocks of 32, 32 and 6 draws
        (1, 130),  # blocks of 32 draws, four, and 2 draws
    ],
)
def test_log_likelihood_scores_the_decoded_means(network, n_rows, n_draws):
    _, decoder, variance, compiled, X = network
    x, z = X[:n_rows], latent_points((n_rows, n_draws))

    log_p = compiled.log_likelihood(x, z)

    assert log_p.shape == (n_rows, n_draws)
    assert log_p.dtype == np.float32
    if n_rows:
        x_hat = decoder(z.reshape(-1, LATENT_DIM), training=False)
        expected = gaussian_log_likelihood(np.repeat(x, n_draws, axis=0), x_hat, variance)
        np.testing.assert_allclose(
            log_p, np.reshape(expected, (n_rows, n_draws)), **FLOAT32_TOLERANCE
        )


# Rows as a batch could hold them: repeats, any order, from one row to past
# two chunks.
batch_rows = st.lists(st.integers(0, N_ROWS - 1), min_size=1, max_size=N_ROWS + 10)


@given(rows=batch_rows)
def test_a_rows_encoding_does_not_depend_on_the_rest_of_the_batch(network, rows):
    _, _, _, compiled, X = network
    mu, log_var = compiled.encode(X)
    # Bitwise, as the module promises for its padded single row; a subset's
    # score_samples are compared bitwise in test_determinism.py.
    subset_mu, subset_log_var = compiled.encode(X[rows])
    np.testing.assert_array_equal(subset_mu, mu[rows])
    np.testing.assert_array_equal(subset_log_var, log_var[rows])


@given(rows=batch_rows)
def test_decoded_means_and_log_likelihoods_barely_depend_on_the_batch(network, rows):
    _, _, _, compiled, X = network
    z = latent_points((N_ROWS,))
    np.testing.assert_allclose(compiled.decode(z[rows]), compiled.decode(z)[rows], **FEW_ULPS)
    draws = latent_points((N_ROWS, 3))
    np.testing.assert_allclose(
        compiled.log_likelihood(X[rows], draws[rows]),
        compiled.log_likelihood(X, draws)[rows],
        **FLOAT32_TOLERANCE,
    )
