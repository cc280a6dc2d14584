"""The decoder's likelihood: the fitted variance, ``alpha="auto"`` and Bernoulli."""

import math
import pickle

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.utils._param_validation import InvalidParameterError

from skvae import VariationalAutoencoder

FAST = dict(
    architecture="dense",
    hidden_layer_sizes=(16,),
    epochs=3,
    batch_size=32,
    random_state=0,
    validation_fraction=0.0,
)
# The sigma-VAE: alpha="auto" with one Gaussian variance, which a table would
# otherwise replace with Student's t per feature (tested in test_noise.py).
GAUSSIAN = dict(likelihood="gaussian", noise_scale="shared")


@pytest.fixture(scope="module")
def digits_split(digits):
    X = digits[0][:600]
    return train_test_split(X, test_size=0.3, random_state=0)


def test_fitted_variance_maximises_the_training_elbo(digits_split):
    # With one draw per row the ELBO of the training rows uses the very draws
    # that fitted the variance, so no other variance can score higher.
    X_train, _ = digits_split
    fitted = VariationalAutoencoder(**GAUSSIAN, **FAST).fit(X_train)
    best = fitted.score(X_train)
    variance = fitted.decoder_variance_
    assert 0 < variance < 0.2
    for factor in (0.5, 0.9, 1.1, 2.0):
        other = VariationalAutoencoder(decoder_variance=factor * variance, **GAUSSIAN, **FAST)
        other.fit(X_train)
        assert other.decoder_variance_ == pytest.approx(factor * variance)
        np.testing.assert_array_equal(other.transform(X_train), fitted.transform(X_train))
        assert other.score(X_train) < best


def test_fitted_variance_beats_the_alpha_implied_one_on_held_out_data(digits_split):
    X_train, X_test = digits_split
    fitted = VariationalAutoencoder(alpha=5000.0, **FAST).fit(X_train)
    implied = VariationalAutoencoder(alpha=5000.0, decoder_variance="alpha", **FAST).fit(X_train)
    assert implied.decoder_variance_ == pytest.approx(64 / (2 * 5000.0))
    assert fitted.score(X_test) > implied.score(X_test) + 10


def test_alpha_implied_variance_needs_a_numeric_alpha(digits_split):
    with pytest.raises(ValueError, match=r"decoder_variance='alpha'.*alpha='auto'"):
        VariationalAutoencoder(alpha="auto", decoder_variance="alpha", **FAST).fit(digits_split[0])


@pytest.mark.parametrize(
    "params, name",
    [
        ({"alpha": "big"}, "alpha"),
        ({"likelihood": "poisson"}, "likelihood"),
        ({"decoder_variance": 0.0}, "decoder_variance"),
        ({"decoder_variance": "mle"}, "decoder_variance"),
    ],
)
def test_new_parameters_are_validated(digits_split, params, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        VariationalAutoencoder(**params).fit(digits_split[0])


def test_auto_alpha_trains_on_the_calibrated_negative_elbo(digits_split):
    X_train, _ = digits_split
    vae = VariationalAutoencoder(alpha="auto", **GAUSSIAN, **FAST).fit(X_train)
    history = vae.history_
    # Per batch, D/2 * (log(2 pi mse) + 1) + KL: the batch-mean form of the loss.
    n_features = X_train.shape[1]
    approximate = (
        n_features / 2 * (math.log(2 * math.pi * history["reconstruction_loss"][-1]) + 1)
        + history["kl_loss"][-1]
    )
    assert history["loss"][-1] == pytest.approx(approximate, abs=2.0)
    assert vae.decoder_variance_ == pytest.approx(history["reconstruction_loss"][-1], rel=0.3)


@pytest.mark.parametrize("first, then", [(5000.0, "auto"), ("auto", 20.0)])
def test_continued_fit_switches_between_auto_and_numeric_alpha(digits_split, first, then):
    X_train, _ = digits_split
    vae = VariationalAutoencoder(alpha=first, warm_start=True, **GAUSSIAN, **FAST).fit(X_train)
    vae.set_params(alpha=then, epochs=1).fit(X_train)
    history = vae.history_
    weighted = history["reconstruction_loss"][-1] * (then if then != "auto" else 5000.0)
    matches_weighted = history["loss"][-1] == pytest.approx(weighted + history["kl_loss"][-1])
    assert matches_weighted == (then != "auto")


def _binary(X):
    return (X > 0.5).astype(np.float32)


def test_bernoulli_scores_binary_data_as_a_probability(digits):
    X_train, X_test = train_test_split(_binary(digits[0]), test_size=0.3, random_state=0)
    params = dict(FAST, hidden_layer_sizes=(64,), latent_dim=4, epochs=30, batch_size=64)
    vae = VariationalAutoencoder(likelihood="bernoulli", alpha="auto", **params).fit(X_train)
    assert vae.decoder_variance_ is None
    assert vae.output_activation_ == "sigmoid"
    scores = vae.score_samples(X_test)
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)  # log-probabilities
    # Better than independent pixels with the training frequencies.
    frequencies = np.clip(X_train.mean(0), 1e-3, 1 - 1e-3)
    independent = X_test @ np.log(frequencies) + (1 - X_test) @ np.log(1 - frequencies)
    assert scores.mean() > independent.mean() + 2
    restored = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(restored.score_samples(X_test), scores)


def test_bernoulli_accepts_8_bit_images():
    images = np.random.default_rng(0).integers(0, 256, (40, 4, 4, 1), dtype=np.uint8)
    vae = VariationalAutoencoder(likelihood="bernoulli", epochs=1, random_state=0).fit(images)
    assert np.all(np.isfinite(vae.score_samples(images)))


@pytest.mark.parametrize("method", ["fit", "score_samples"])
def test_bernoulli_refuses_data_outside_the_unit_interval(digits_split, method):
    X_train, _ = digits_split
    vae = VariationalAutoencoder(likelihood="bernoulli", **FAST)
    if method == "score_samples":
        vae.fit(X_train)
    with pytest.raises(ValueError, match=r"likelihood='bernoulli' needs X in \[0, 1\]"):
        getattr(vae, method)(X_train * 2)


def test_bernoulli_needs_a_sigmoid(digits_split):
    vae = VariationalAutoencoder(likelihood="bernoulli", output_activation="linear", **FAST)
    with pytest.raises(ValueError, match="output_activation='sigmoid'"):
        vae.fit(digits_split[0])


def test_likelihood_is_part_of_the_network(digits_split):
    vae = VariationalAutoencoder(warm_start=True, **FAST).fit(digits_split[0])
    with pytest.raises(ValueError, match="likelihood changed"):
        vae.set_params(likelihood="bernoulli").fit(digits_split[0])


def test_grid_search_picks_the_best_held_out_score(digits_split):
    X_train, X_test = digits_split
    X = np.concatenate([X_train, X_test])
    split = [(np.arange(len(X_train)), np.arange(len(X_train), len(X)))]
    grid = {"alpha": [100.0, "auto"], "latent_dim": [1, 4]}
    search = GridSearchCV(VariationalAutoencoder(**FAST), grid, cv=split).fit(X)
    held_out = {
        (alpha, latent_dim): VariationalAutoencoder(alpha=alpha, latent_dim=latent_dim, **FAST)
        .fit(X_train)
        .score(X_test)
        for alpha in grid["alpha"]
        for latent_dim in grid["latent_dim"]
    }
    best = max(held_out, key=held_out.get)
    assert (search.best_params_["alpha"], search.best_params_["latent_dim"]) == best
    assert search.best_score_ == pytest.approx(held_out[best])


@pytest.mark.parametrize("likelihood, alpha", [("gaussian", "auto"), ("bernoulli", "auto")])
@pytest.mark.parametrize("layout", ["table", "images-2d", "images-4d"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_layout_and_dtype_fits_scores_pickles_and_continues(
    likelihood, alpha, layout, dtype
):
    rng = np.random.default_rng(0)
    X = rng.random({"table": (48, 5), "images-2d": (48, 16), "images-4d": (48, 4, 4, 1)}[layout])
    X = X.astype(dtype)
    vae = VariationalAutoencoder(
        likelihood=likelihood,
        alpha=alpha,
        image_shape=(4, 4) if layout == "images-2d" else None,
        epochs=2,
        batch_size=16,
        random_state=0,
    ).fit(X)
    assert vae.architecture_ == ("dense" if layout == "table" else "conv")
    scores = vae.score_samples(X)
    assert scores.dtype == np.float64 and np.all(np.isfinite(scores))
    assert vae.transform(X).dtype == dtype
    restored = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(restored.score_samples(X), scores)
    restored.partial_fit(X)
    assert restored.n_iter_ == vae.n_iter_ + 1
    assert np.all(np.isfinite(restored.score_samples(X)))
