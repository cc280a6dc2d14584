"""VariationalAutoencoder.interpolate: straight lines between latent means."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skvae import VariationalAutoencoder

TINY = dict(epochs=1, batch_size=16, conv_filters=(4, 8), conv_strides=(1, 2), random_state=0)


@pytest.fixture(scope="module")
def fitted_on_rows(digits):
    X, _ = digits
    vae = VariationalAutoencoder(latent_dim=3, image_shape=(8, 8), **TINY).fit(X[:120])
    return vae, X[:120]


def test_path_runs_between_the_decoded_latent_means(fitted_on_rows):
    vae, X = fitted_on_rows
    path = vae.interpolate(X[0], X[1], n_steps=5)

    assert path.shape == (5, 64)
    latent = vae.transform(X[:2])
    expected = vae.inverse_transform(
        np.stack([(1 - t) * latent[0] + t * latent[1] for t in np.linspace(0, 1, 5)])
    )
    np.testing.assert_allclose(path, expected, atol=1e-6)
    # The ends are the reconstructions of the two samples.
    np.testing.assert_allclose(path[[0, -1]], vae.inverse_transform(latent), atol=1e-6)


@pytest.mark.parametrize(
    "as_sample",
    [
        lambda x: x,
        lambda x: x.reshape(1, 64),
        lambda x: x.reshape(8, 8),
        lambda x: x.reshape(8, 8, 1),
        lambda x: x.reshape(1, 8, 8, 1),
        lambda x: x.tolist(),
    ],
    ids=["row", "batch-of-one", "image-2d", "image-3d", "image-batch-of-one", "list"],
)
def test_every_single_sample_layout_gives_the_same_path(fitted_on_rows, as_sample):
    vae, X = fitted_on_rows
    reference = vae.interpolate(X[2], X[3], n_steps=4)
    np.testing.assert_allclose(
        vae.interpolate(as_sample(X[2]), as_sample(X[3]), n_steps=4), reference, atol=1e-6
    )


def test_path_comes_back_in_the_image_layout_of_fit(digits):
    X, _ = digits
    images = X[:60].reshape(-1, 8, 8, 1)
    vae = VariationalAutoencoder(**TINY).fit(images)
    path = vae.interpolate(images[0], images[1], n_steps=3)
    assert path.shape == (3, 8, 8, 1)


@pytest.mark.parametrize("bad_shape", [(2, 64), (63,), (8, 9)])
def test_more_or_other_than_one_sample_is_refused(fitted_on_rows, bad_shape):
    vae, _ = fitted_on_rows
    with pytest.raises(ValueError, match=r"x_start must be one sample.*64 features"):
        vae.interpolate(np.zeros(bad_shape), np.zeros(64))


@pytest.mark.parametrize("n_steps", [1, 0, 2.5])
def test_n_steps_must_be_an_int_of_at_least_two(fitted_on_rows, n_steps):
    vae, X = fitted_on_rows
    with pytest.raises((ValueError, TypeError), match="n_steps"):
        vae.interpolate(X[0], X[1], n_steps=n_steps)


def test_interpolate_needs_a_fitted_model():
    with pytest.raises(NotFittedError):
        VariationalAutoencoder().interpolate(np.zeros(64), np.zeros(64))
