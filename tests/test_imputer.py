"""``VAEImputer``: the imputer's contract, its bad inputs and its math.

The math is checked on a linear-Gaussian model (probabilistic PCA), where
``E[x_miss | x_obs]`` is known in closed form; everything else on small
tables and scikit-learn's 8x8 digits with entries removed at random.
"""

import copy
import math
import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skvae import VAEImputer
from skvae._seeding import row_noise

FAST = dict(epochs=2, batch_size=32, n_importance_samples=8, random_state=0)
# One Gaussian noise variance (the sigma-VAE), which the tests of the fitted
# variance and the exactness tests assume; on a table the default learns
# Student's t per feature (tested in test_noise.py).
GAUSSIAN = dict(likelihood="gaussian", noise_scale="shared")


def with_missing(X, fraction=0.3, seed=0):
    X = np.array(X, dtype=np.float64)
    X[np.random.default_rng(seed).random(X.shape) < fraction] = np.nan
    return X


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return data.data[:400] / 16, data.target[:400]


@pytest.fixture(scope="module")
def table():
    X = np.random.default_rng(1).normal(size=(120, 5))
    X[:, 1] += X[:, 0]
    return with_missing(X, 0.25)


@pytest.fixture(scope="module")
def fitted_table(table):
    return VAEImputer(hidden_layer_sizes=(16,), **FAST).fit(table)


@pytest.fixture(scope="module")
def fitted_digits(digits):
    return VAEImputer(image_shape=(8, 8), **FAST).fit(with_missing(digits[0]))


# ------------------------------------------------------ the imputer contract


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_observed_entries_are_returned_bit_for_bit(fitted_table, table, dtype):
    X = table.astype(dtype)
    X_imputed = fitted_table.transform(X)
    observed = ~np.isnan(X)
    assert X_imputed.dtype == dtype
    assert np.array_equal(X_imputed[observed], X[observed])
    assert np.isfinite(X_imputed).all()
    # Something was imputed, and not a constant fill.
    assert np.unique(X_imputed[~observed]).size > 10


def test_complete_rows_are_returned_unchanged(fitted_table, table):
    complete = np.random.default_rng(2).normal(size=(7, table.shape[1]))
    X = np.vstack([table[:5], complete])
    X_imputed = fitted_table.transform(X)
    assert np.array_equal(X_imputed[5:], complete)
    assert np.array_equal(fitted_table.transform(complete), complete)


def test_images_keep_their_shape_and_pixels(fitted_digits, digits):
    X = with_missing(digits[0][:30], seed=3)
    images = X.reshape(-1, 8, 8, 1)
    imputer = VAEImputer(**FAST).fit(with_missing(digits[0]).reshape(-1, 8, 8, 1))
    assert imputer.architecture_ == "conv"
    completed = imputer.transform(images)
    assert completed.shape == images.shape
    observed = ~np.isnan(images)
    assert np.array_equal(completed[observed], images[observed])
    # A model fitted on 8x8 rows with image_shape is conv too, and answers in rows.
    assert fitted_digits.architecture_ == "conv"
    assert fitted_digits.transform(X).shape == X.shape


def test_imputations_are_reproducible_and_row_independent(fitted_table, table):
    first = fitted_table
    second = VAEImputer(hidden_layer_sizes=(16,), **FAST).fit(table)
    X_imputed = first.transform(table)
    assert np.array_equal(X_imputed, second.transform(table))
    assert np.array_equal(X_imputed, first.transform(table))
    # A row's draws are seeded by its own values: alone or in a batch, the
    # same (up to float32 kernel rounding).
    alone = np.vstack([first.transform(table[i : i + 1]) for i in range(10)])
    np.testing.assert_allclose(alone, X_imputed[:10], rtol=1e-5, atol=1e-6)
    other_seed = VAEImputer(hidden_layer_sizes=(16,), **{**FAST, "random_state": 1}).fit(table)
    assert not np.array_equal(other_seed.transform(table), X_imputed)


def test_sample_posterior_draws_from_the_model(table):
    imputer = VAEImputer(hidden_layer_sizes=(16,), **GAUSSIAN, **FAST).fit(table)
    mean = imputer.transform(table)
    draw = imputer.set_params(sample_posterior=True).transform(table)
    missing = np.isnan(table)
    assert np.array_equal(draw[~missing], table[~missing])
    assert np.array_equal(draw, imputer.transform(table))  # reproducible
    # A draw scatters around the mean with the decoder's noise (and the
    # posterior's): its spread is at least the decoder's standard deviation.
    spread = np.std(draw[missing] - mean[missing])
    assert spread > 0.8 * math.sqrt(imputer.decoder_variance_)


def test_bernoulli_draws_are_binary(digits):
    X = with_missing((digits[0] > 0.5).astype(float))
    imputer = VAEImputer(likelihood="bernoulli", sample_posterior=True, **FAST).fit(X)
    draw = imputer.transform(X)
    assert set(np.unique(draw[np.isnan(X)])) <= {0.0, 1.0}
    mean = imputer.set_params(sample_posterior=False).transform(X)
    assert ((mean >= 0) & (mean <= 1)).all()


def test_the_fitted_imputer_ignores_later_set_params(table):
    X = table.copy()
    X[:, 2] = np.nan
    imputer = VAEImputer(hidden_layer_sizes=(16,), **FAST).fit(X)
    before, names = imputer.transform(X), imputer.get_feature_names_out()
    imputer.set_params(
        missing_values=0.0, keep_empty_features=True, add_indicator=True, latent_dim=3, alpha=1.0
    )
    assert np.array_equal(imputer.transform(X), before)
    assert np.array_equal(imputer.get_feature_names_out(), names)


def test_a_numeric_missing_value_marker_equals_nan(fitted_table, table):
    marked = np.where(np.isnan(table), -1.0, table)
    by_nan = fitted_table
    by_marker = VAEImputer(missing_values=-1, hidden_layer_sizes=(16,), **FAST).fit(marked)
    assert np.array_equal(by_marker.transform(marked), by_nan.transform(table))
    assert by_nan.__sklearn_tags__().input_tags.allow_nan
    assert not by_marker.__sklearn_tags__().input_tags.allow_nan


def test_add_indicator_and_feature_names(table):
    import pandas as pd

    frame = pd.DataFrame(table, columns=[f"f{i}" for i in range(table.shape[1])])
    frame["f4"] = np.arange(len(frame), dtype=float)  # never missing: no indicator
    imputer = VAEImputer(add_indicator=True, hidden_layer_sizes=(16,), **FAST)
    imputer.set_output(transform="pandas")
    out = imputer.fit_transform(frame)
    expected = ["f0", "f1", "f2", "f3", "f4"] + [f"missingindicator_f{i}" for i in range(4)]
    assert list(out.columns) == expected
    assert list(imputer.get_feature_names_out()) == expected
    assert np.array_equal(out.iloc[:, 5:].to_numpy(), frame.iloc[:, :4].isna().to_numpy())


def test_empty_features_are_dropped_or_kept_as_zero(table):
    X = table.copy()
    X[:, 2] = np.nan
    dropped = VAEImputer(hidden_layer_sizes=(16,), **FAST).fit(X)
    assert dropped.transform(X).shape == (len(X), X.shape[1] - 1)
    assert list(dropped.get_feature_names_out()) == ["x0", "x1", "x3", "x4"]
    kept = VAEImputer(keep_empty_features=True, hidden_layer_sizes=(16,), **FAST).fit(X)
    X_kept = kept.transform(X)
    assert np.array_equal(X_kept[:, 2], np.zeros(len(X)))
    assert np.array_equal(np.delete(X_kept, 2, axis=1), dropped.transform(X))


def test_empty_rows_get_finite_imputations(table):
    X = table.copy()
    X[:4] = np.nan
    imputer = VAEImputer(hidden_layer_sizes=(16,), **FAST).fit(X)
    X_imputed = imputer.transform(X)
    assert np.isfinite(X_imputed).all()
    # Nothing observed: every empty row gets the same, the model's mean.
    np.testing.assert_allclose(X_imputed[:4], np.broadcast_to(X_imputed[0], (4, X.shape[1])))


def test_complete_training_data_train_a_plain_autoencoder(digits):
    X = digits[0]
    imputer = VAEImputer(**FAST).fit(X)
    X_test = with_missing(X[:20], seed=4)
    assert np.isfinite(imputer.transform(X_test)).all()


def test_pickled_imputer_imputes_the_same(fitted_digits, digits):
    X = with_missing(digits[0][:40], seed=5)
    restored = pickle.loads(pickle.dumps(fitted_digits))
    assert np.array_equal(restored.transform(X), fitted_digits.transform(X))


def test_in_a_pipeline_under_grid_search(digits):
    X, y = with_missing(digits[0]), digits[1]
    pipeline = make_pipeline(VAEImputer(**FAST), LogisticRegression(max_iter=200))
    search = GridSearchCV(pipeline, {"vaeimputer__latent_dim": [2, 4]}, cv=2).fit(X, y)
    assert search.best_score_ > 0.5
    assert search.predict(X[:5]).shape == (5,)


def test_score_is_the_mean_bound_on_the_observed_entries(fitted_table, table):
    imputer = copy.deepcopy(fitted_table)  # set_params below: the shared one stays as it is
    score = imputer.score(table)
    assert math.isfinite(score)
    # Each row's bound covers its observed entries only: hiding one more
    # entry of every row leaves a likelihood of fewer terms.
    fewer = table.copy()
    fewer[:, 4] = np.nan
    assert imputer.score(fewer) != score
    # Nothing observed has probability 1: one draw bounds its log by -KL(q || p).
    nothing = np.full((1, table.shape[1]), np.nan)
    mu, log_var = (np.asarray(v, np.float64) for v in imputer.encoder_(nothing))
    kl = 0.5 * np.sum(mu**2 + np.exp(log_var) - 1 - log_var)
    one_draw = imputer.set_params(n_importance_samples=1).score(nothing)
    assert one_draw == pytest.approx(-kl, rel=1e-5)
    # The same draws and decoder variance as the autoencoder's score.
    complete = np.nan_to_num(table)
    assert imputer.score(complete) == pytest.approx(
        np.mean(imputer._score_samples(complete)), rel=1e-12
    )


def test_grid_search_with_default_scoring_picks_the_best_held_out_score(digits):
    X = with_missing(digits[0][:300])
    split = [(np.arange(200), np.arange(200, 300))]
    params = dict(FAST, hidden_layer_sizes=(16,), validation_fraction=0.0)
    grid = {"latent_dim": [1, 4]}
    search = GridSearchCV(VAEImputer(**params), grid, cv=split).fit(X)
    held_out = {
        latent_dim: VAEImputer(latent_dim=latent_dim, **params).fit(X[:200]).score(X[200:])
        for latent_dim in grid["latent_dim"]
    }
    best = max(held_out, key=held_out.get)
    assert search.best_params_["latent_dim"] == best
    assert search.best_score_ == pytest.approx(held_out[best])


def test_the_decoder_variance_is_fitted_on_the_observed_entries(table):
    imputer = VAEImputer(
        hidden_layer_sizes=(16,), validation_fraction=0.0, **GAUSSIAN, **FAST
    ).fit(table)
    x = table.astype(np.float32)
    mu, log_var = (np.asarray(v, np.float64) for v in imputer.encoder_(x))
    eps = row_noise(x, 1, mu.shape[1], imputer._inference_seed)[:, 0]
    x_hat = np.asarray(imputer.decoder_((mu + np.exp(0.5 * log_var) * eps).astype(np.float32)))
    observed = ~np.isnan(table)
    squared_errors = (table - x_hat)[observed] ** 2
    assert imputer.decoder_variance_ == pytest.approx(squared_errors.mean(), rel=1e-4)


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "make, params, message",
    [
        (lambda X: np.full_like(X, np.nan), {}, "no observed value"),
        (lambda X: np.where(np.isnan(X), np.inf, X), {}, "infinity"),
        (lambda X: X, {"missing_values": -1}, "contains NaN, but missing_values=-1"),
        (lambda X: X.reshape(-1, 4, 4, 1), {"add_indicator": True}, "add_indicator=True"),
    ],
    ids=["all-missing", "inf", "nan-with-other-marker", "indicator-on-images"],
)
def test_bad_input_gets_a_clear_error(make, params, message):
    X = with_missing(np.random.default_rng(0).random((40, 16)))
    with pytest.raises(ValueError, match=message):
        VAEImputer(**FAST, **params).fit(make(X))


def test_a_failed_fit_keeps_the_fitted_imputer(table):
    imputer = VAEImputer(hidden_layer_sizes=(16,), **FAST).fit(table)
    before = imputer.transform(table)
    with pytest.raises(ValueError, match="no observed value"):
        imputer.fit(np.full_like(table, np.nan))
    assert np.array_equal(imputer.transform(table), before)


def test_transform_rejects_inf_and_a_new_layout(fitted_table, table):
    with pytest.raises(ValueError, match="infinity"):
        fitted_table.transform(np.where(np.isnan(table), np.inf, table))
    with pytest.raises(ValueError, match="features"):
        fitted_table.transform(table[:, :3])


# ---------------------------------------------- the linear-Gaussian reference

N_FEATURES, OBSERVED = 6, [0, 1, 2, 3]
MISSING = [4, 5]
COLUMN_SCALES = np.array([2.0, 1.0])
NOISE_VARIANCE = 0.25


def ppca_model():
    """``W`` whose observed rows have orthogonal columns, and the offset ``b``."""
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(len(OBSERVED), len(COLUMN_SCALES))))
    weights = np.empty((N_FEATURES, len(COLUMN_SCALES)))
    weights[OBSERVED] = basis * COLUMN_SCALES
    weights[MISSING] = rng.normal(size=(len(MISSING), len(COLUMN_SCALES)))
    return weights, rng.normal(size=N_FEATURES)


def ppca_rows(n_samples, seed, missing=True):
    """PPCA samples; with ``missing``, their ``MISSING`` features removed."""
    weights, offset = ppca_model()
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n_samples, weights.shape[1]))
    noise = rng.normal(scale=math.sqrt(NOISE_VARIANCE), size=(n_samples, N_FEATURES))
    X = z @ weights.T + offset + noise
    if missing:
        X[:, MISSING] = np.nan
    return X


def gaussian_conditional_mean(X_missing):
    """``E[x_miss | x_obs]`` of ``N(b, W W^T + sigma^2 I)``, by the Schur complement."""
    weights, offset = ppca_model()
    covariance = weights @ weights.T + NOISE_VARIANCE * np.eye(N_FEATURES)
    gain = covariance[np.ix_(MISSING, OBSERVED)] @ np.linalg.inv(
        covariance[np.ix_(OBSERVED, OBSERVED)]
    )
    return offset[MISSING] + (X_missing[:, OBSERVED] - offset[OBSERVED]) @ gain.T


def linear_imputer(install, encoder, n_importance_samples):
    """A linear-Gaussian imputer: the PPCA decoder, and ``encoder`` for ``q(z | x_obs)``.

    ``install`` is the ``install_linear_gaussian`` fixture.

    ``encoder="exact"`` installs the exact posterior given the observed
    features (diagonal, since their columns of ``W`` are orthogonal),
    ``"prior"`` uses ``q = p(z) = N(0, I)``, so the weights do all the work.
    """
    imputer = VAEImputer(
        latent_dim=len(COLUMN_SCALES),
        architecture="dense",
        hidden_layer_sizes=(),
        output_activation="linear",
        decoder_variance=NOISE_VARIANCE,
        **GAUSSIAN,
        n_importance_samples=n_importance_samples,
        epochs=1,
        random_state=0,
    ).fit(ppca_rows(100, seed=1, missing=False))
    weights, offset = ppca_model()
    # The encoder reads the zero-filled row and then the mask: the mask's
    # rows of the kernel stay 0.
    mu_kernel = np.zeros((2 * N_FEATURES, len(COLUMN_SCALES)))
    mu_bias = log_var_bias = np.zeros(len(COLUMN_SCALES))
    if encoder == "exact":
        precision_scale = 1.0 / (COLUMN_SCALES**2 + NOISE_VARIANCE)  # M^-1, diagonal
        mu_kernel[OBSERVED] = weights[OBSERVED] * precision_scale
        mu_bias = -(weights[OBSERVED].T @ offset[OBSERVED]) * precision_scale
        log_var_bias = np.log(NOISE_VARIANCE * precision_scale)
    return install(imputer, mu_kernel, mu_bias, log_var_bias, weights, offset)


def test_imputation_with_the_exact_posterior_is_the_gaussian_conditional_mean(
    install_linear_gaussian,
):
    # With q(z | x_obs) = p(z | x_obs) every weight equals p(x_obs), so the
    # imputation is the mean of W_miss z_i + b_miss over k exact posterior
    # draws: E[x_miss | x_obs] up to Monte Carlo error of known size.
    n_draws = 1000
    imputer = linear_imputer(install_linear_gaussian, "exact", n_draws)
    X_missing = ppca_rows(200, seed=2)
    imputed = imputer.transform(X_missing)[:, MISSING]
    expected = gaussian_conditional_mean(X_missing)
    weights, offset = ppca_model()
    posterior_variance = NOISE_VARIANCE / (COLUMN_SCALES**2 + NOISE_VARIANCE)
    standard_error = np.sqrt((weights[MISSING] ** 2 * posterior_variance).sum(axis=1) / n_draws)
    assert np.all(np.abs(imputed - expected) < 5 * standard_error)
    # The check has teeth: the unconditional mean is far outside it.
    assert np.mean(np.abs(offset[MISSING] - expected) > 5 * standard_error) > 0.9


def test_the_weights_correct_a_poor_proposal(install_linear_gaussian):
    # With the prior as q, the unweighted mean would be b_miss; the
    # importance weights p(x_obs | z) pull it to the conditional mean.
    imputer = linear_imputer(install_linear_gaussian, "prior", 4000)
    X_missing = ppca_rows(100, seed=3)
    imputed = imputer.transform(X_missing)[:, MISSING]
    expected = gaussian_conditional_mean(X_missing)
    _, offset = ppca_model()
    assert np.mean(np.abs(imputed - expected)) < 0.05
    assert np.mean(np.abs(offset[MISSING] - expected)) > 0.5
