"""The learned noise model: a variance per feature, Student's t, and the k-draw objective."""

import io
import pickle

import numpy as np
import pytest
from sklearn.decomposition import PCA, FactorAnalysis

import skvae
from skvae import VAEImputer, VariationalAutoencoder
from skvae._training import NOISE_FLOOR

LEARNED = dict(alpha="auto", noise_scale="feature")
TINY = dict(hidden_layer_sizes=(8,), epochs=2, batch_size=16, random_state=0)


def factor_analysis_sample(n_rows, seed):
    """Rows of a 2-factor model whose six noise variances span a factor of 40."""
    weights = np.random.default_rng(0).normal(size=(6, 2))
    noise = np.array([0.05, 0.1, 0.3, 0.6, 1.0, 2.0])
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_rows, 2)) @ weights.T + rng.normal(size=(n_rows, 6)) * np.sqrt(noise)


# Trains to convergence (about 15 s): slow.
@pytest.mark.slow
def test_a_linear_vae_with_a_variance_per_feature_reaches_factor_analysis():
    # With a linear encoder and decoder and a noise variance per feature the
    # model is factor analysis, whose maximum-likelihood fit sklearn finds.
    X_train, X_test = factor_analysis_sample(2000, seed=1), factor_analysis_sample(1000, seed=2)
    linear = dict(
        latent_dim=2,
        hidden_layer_sizes=(),
        output_activation="linear",
        epochs=60,
        batch_size=64,
        # The settings this exactness check was tuned at (a constant rate).
        learning_rate=1e-2,
        learning_rate_schedule="constant",
        early_stopping=False,
        validation_fraction=0.0,
        n_importance_samples=100,
        random_state=0,
    )
    fa_score = FactorAnalysis(2).fit(X_train).score(X_test)
    vae = VariationalAutoencoder(likelihood="gaussian", **LEARNED, **linear).fit(X_train)
    assert vae.decoder_variance_.shape == (6,)
    assert vae.score(X_test) == pytest.approx(fa_score, abs=0.03)
    # One variance for all features is probabilistic PCA, which this data defeats.
    shared = VariationalAutoencoder(noise_scale="shared", likelihood="gaussian", **linear)
    shared.fit(X_train)
    assert shared.score(X_test) < fa_score - 0.1


def test_a_constant_column_gets_the_floor_not_an_infinite_likelihood():
    X = np.random.default_rng(0).normal(size=(80, 4))
    X[:, 2] = 3.0
    vae = VariationalAutoencoder(validation_fraction=0.0, **LEARNED, **TINY).fit(X)
    # A thousandth of the mean feature variance of the training rows.
    assert vae._noise_floor == pytest.approx(NOISE_FLOOR * np.mean(np.var(X, axis=0)), rel=1e-5)
    assert np.all(vae.decoder_variance_ >= vae._noise_floor)
    assert np.all(np.isfinite(vae.score_samples(X)))


def test_a_wide_table_s_constant_columns_do_not_dominate_its_score():
    # 200 columns (a wide table), 136 of them constant. With a variance per
    # column each constant one sits at the floor and adds about
    # -log(2 pi floor) / 2 nats; a wide table's defaults score every column
    # with one shared Gaussian variance, fitted to all of them, as
    # probabilistic PCA does, so the constant columns add what PPCA's add.
    rng = np.random.default_rng(0)
    n_constant = 136
    signal = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 64))
    X = np.hstack([signal + 0.5 * rng.normal(size=(300, 64)), np.zeros((300, n_constant))])
    ppca = PCA(2).fit(X).score(X)
    fast = dict(epochs=15, n_importance_samples=1, random_state=0)
    wide = VariationalAutoencoder(**fast).fit(X)
    assert (wide.likelihood_, wide.noise_scale_) == ("gaussian", "shared")
    assert np.ndim(wide.decoder_variance_) == 0
    assert wide.decoder_variance_ >= NOISE_FLOOR * np.mean(np.var(X, axis=0))
    assert wide.score(X) < ppca + 0.5 * n_constant
    # The control: a variance per column lets the constant ones dominate.
    per_column = VariationalAutoencoder(likelihood="gaussian", noise_scale="feature", **fast)
    per_column.fit(X)
    assert np.all(per_column.decoder_variance_ >= per_column._noise_floor)
    assert per_column.score(X) > ppca + 1.0 * n_constant


@pytest.mark.parametrize(
    "estimator, widths", [(VariationalAutoencoder, (64,)), (VAEImputer, (128, 128))]
)
@pytest.mark.parametrize("n_columns", [10, 128])
def test_narrow_table_defaults_are_the_measured_ones(estimator, widths, n_columns):
    # Up to 128 columns "auto" means what the "Tables" benchmark measured:
    # (64,) (the imputer: (128, 128)), Student's t with a scale per feature;
    # the same fit, bit for bit.
    X = np.random.default_rng(0).normal(size=(60, n_columns))
    fast = dict(epochs=1, n_importance_samples=2, random_state=0)
    auto = estimator(**fast).fit(X)
    explicit = estimator(
        hidden_layer_sizes=widths, likelihood="student_t", noise_scale="feature", **fast
    ).fit(X)
    assert (auto.likelihood_, auto.noise_scale_) == ("student_t", "feature")
    for network in ("encoder_", "decoder_"):
        weights = getattr(auto, network).get_weights()
        expected = getattr(explicit, network).get_weights()
        assert [w.shape for w in weights] == [w.shape for w in expected]
        for value, reference in zip(weights, expected, strict=True):
            np.testing.assert_array_equal(value, reference)
    np.testing.assert_array_equal(auto.decoder_variance_, explicit.decoder_variance_)


@pytest.mark.parametrize("likelihood", ["gaussian", "student_t"])
def test_learned_noise_is_reproducible_pickles_saves_and_continues(likelihood):
    X = np.random.default_rng(0).normal(size=(64, 5))
    params = dict(likelihood=likelihood, n_training_draws=3, **LEARNED, **TINY)
    first = VariationalAutoencoder(**params).fit(X)
    second = VariationalAutoencoder(**params).fit(X)
    np.testing.assert_array_equal(first.decoder_variance_, second.decoder_variance_)
    np.testing.assert_array_equal(first.score_samples(X), second.score_samples(X))
    if likelihood == "student_t":
        assert first.decoder_df_.shape == (5,) and np.all(first.decoder_df_ > 2)
    else:
        assert first.decoder_df_ is None
    unpickled = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(unpickled.score_samples(X), first.score_samples(X))
    file = io.BytesIO()
    skvae.save(first, file)
    file.seek(0)
    loaded = skvae.load(file)
    np.testing.assert_array_equal(loaded.score_samples(X), first.score_samples(X))
    for continued in (unpickled, loaded):
        continued.partial_fit(X)
        assert np.all(np.isfinite(continued.score_samples(X)))


def test_the_imputer_learns_the_noise_and_draws_student_t_noise():
    X = np.random.default_rng(0).normal(size=(80, 4))
    X[:, 1] += 2 * X[:, 0]
    X[::3, 1] = np.nan
    imputer = VAEImputer(
        likelihood="student_t", n_training_draws=4, n_importance_samples=8, **LEARNED, **TINY
    ).fit(X)
    mean = imputer.transform(X)
    draws = imputer.set_params(sample_posterior=True).transform(X)
    observed = ~np.isnan(X)
    assert np.array_equal(mean[observed], X[observed]) and np.isfinite(mean).all()
    assert np.isfinite(draws).all() and not np.array_equal(draws, mean)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(likelihood="student_t", alpha=100.0), "learns the decoder's noise"),
        (dict(noise_scale="feature", alpha=100.0), "learns the decoder's noise"),
        (dict(noise_scale="feature", likelihood="bernoulli", alpha="auto"), "Bernoulli"),
    ],
)
def test_a_learned_noise_needs_the_elbo(params, message):
    X = np.random.default_rng(0).random((40, 3))
    with pytest.raises(ValueError, match=message):
        VariationalAutoencoder(**{**TINY, **params}).fit(X)


def test_a_continued_fit_refuses_another_noise_model_or_number_of_draws():
    X = np.random.default_rng(0).normal(size=(40, 3))
    vae = VariationalAutoencoder(warm_start=True, **LEARNED, **TINY).fit(X)
    for name, value in [("noise_scale", "shared"), ("n_training_draws", 2)]:
        with pytest.raises(ValueError, match=f"{name} changed"):
            vae.set_params(**{name: value}).fit(X)
        vae.set_params(noise_scale="feature", n_training_draws=1)


def test_a_continued_fit_of_a_learned_noise_refuses_a_numeric_alpha_and_says_why():
    X = np.random.default_rng(0).normal(size=(40, 3))
    vae = VariationalAutoencoder(warm_start=True, **TINY).fit(X)  # Student's t, resolved
    n_iter = vae.n_iter_
    with pytest.raises(ValueError, match=r"keeps that noise model.*warm_start=False"):
        vae.set_params(alpha=100.0).fit(X)
    assert vae.n_iter_ == n_iter
    refit = vae.set_params(warm_start=False).fit(X)
    assert (refit.likelihood_, refit.noise_scale_) == ("gaussian", "shared")


def test_the_noise_model_resolves_by_what_the_rows_are():
    X = np.random.default_rng(0).random((60, 16))
    tiny = dict(TINY, epochs=1)
    table = VariationalAutoencoder(**tiny).fit(X)
    assert (table.likelihood_, table.noise_scale_) == ("student_t", "feature")
    assert table.decoder_variance_.shape == (16,) and table.decoder_df_.shape == (16,)
    images = VariationalAutoencoder(
        image_shape=(4, 4), conv_filters=(4,), conv_strides=1, **tiny
    ).fit(X)
    assert (images.likelihood_, images.noise_scale_) == ("gaussian", "shared")
    assert np.ndim(images.decoder_variance_) == 0 and images.decoder_df_ is None
    weighted = VariationalAutoencoder(alpha=100.0, **tiny).fit(X)
    assert (weighted.likelihood_, weighted.noise_scale_) == ("gaussian", "shared")
    explicit = VariationalAutoencoder(likelihood="gaussian", **tiny).fit(X)
    assert (explicit.likelihood_, explicit.noise_scale_) == ("gaussian", "feature")
