"""Property tests of the loss and log-density functions in ``skvae._losses``.

Inputs are drawn with ``hypothesis.extra.numpy`` strategies (never with a
random generator inside a test), so a failure shrinks to a minimal example.
The functions compute in float32 while the references compute in float64;
each tolerance below says which float32 error it allows. The few tests that
hold a formula to float64 precision give it float64 input inside
``float64_ops`` (conftest.py), where JAX computes in float64 too.
"""

import math

import keras
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from skvae import VariationalAutoencoder
from skvae._losses import (
    BERNOULLI_EPSILON,
    LOG_VAR_RANGE,
    MIN_DECODER_VARIANCE,
    bernoulli_log_likelihood,
    calibrated_loss,
    combined_loss,
    decoder_variance,
    diagonal_normal_log_density,
    evidence_lower_bound,
    gaussian_log_likelihood,
    importance_weighted_bound,
    importance_weighted_loss,
    importance_weighted_mean,
    kl_loss,
    log_importance_weights,
    observed_entries,
    observed_fraction,
    optimal_decoder_variance,
    reconstruction_loss,
    reparameterize,
    resampled_index,
    standard_normal_log_density,
    student_t_log_likelihood,
)
from skvae._model import NetworkStructure, Sampling, build_encoder

EPS32 = float(np.finfo(np.float32).eps)


def as_float64(array):
    """``array`` as a float64 ndarray of the same shape.

    Not ``np.float64(array)``: NumPy < 2 turns a one-element array into a
    scalar, which drops the batch axis of a batch of one.
    """
    return np.asarray(array, dtype=np.float64)


# The first call of a TensorFlow op can take longer than hypothesis's default
# deadline when the `ci` profile is not loaded (CI unset); the example count
# still comes from the active profile.
property_test = settings(deadline=None)

batch_sizes = st.integers(1, 6)
latent_dims = st.integers(1, 5)


def float32s(low, high):
    """Normal float32 values in ``[low, high]`` (bounds rounded to float32)."""
    return st.floats(
        float(np.float32(low)), float(np.float32(high)), width=32, allow_subnormal=False
    )


@st.composite
def posteriors(draw, mu_bound=1e3, log_var_range=LOG_VAR_RANGE):
    """``(mu, log_var)`` float32 arrays of one random ``(batch, latent_dim)`` shape."""
    shape = (draw(batch_sizes), draw(latent_dims))
    mu = draw(hnp.arrays(np.float32, shape, elements=float32s(-mu_bound, mu_bound)))
    log_var = draw(hnp.arrays(np.float32, shape, elements=float32s(*log_var_range)))
    return mu, log_var


# Data batches: tabular (batch, features) or images (batch, height, width, channels).
sample_shapes = st.one_of(
    st.tuples(st.integers(1, 12)),
    st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3)),
)


@st.composite
def data_pairs(draw, bound=1e3):
    """``(x, x_hat)`` float32 batches of one shape; some rows of ``x_hat`` equal ``x``."""
    shape = (draw(batch_sizes), *draw(sample_shapes))
    x = draw(hnp.arrays(np.float32, shape, elements=float32s(-bound, bound)))
    other = draw(hnp.arrays(np.float32, shape, elements=float32s(-bound, bound)))
    keep_row = draw(hnp.arrays(np.bool_, shape[:1]))
    x_hat = np.where(keep_row.reshape(-1, *[1] * (len(shape) - 1)), x, other)
    return x, x_hat


def numpy_kl(mu, log_var):
    """float64 reference; ``expm1`` avoids the cancellation in ``exp(v) - 1 - v``."""
    mu, log_var = as_float64(mu), as_float64(log_var)
    return 0.5 * np.sum(mu**2 + np.expm1(log_var) - log_var, axis=-1)


def kl_rounding_bound(mu, log_var):
    """float32 rounding allowance of ``kl_loss``: a few ulps of every summed term."""
    mu, log_var = as_float64(mu), as_float64(log_var)
    magnitude = 1.0 + np.abs(log_var) + mu**2 + np.exp(log_var)
    return 4 * EPS32 * np.sum(magnitude, axis=-1)


# 1. KL >= 0 ------------------------------------------------------------------


@property_test
@given(posteriors())
def test_kl_is_non_negative_and_matches_numpy(posterior):
    mu, log_var = posterior
    kl = np.asarray(kl_loss(mu, log_var))
    slack = kl_rounding_bound(mu, log_var)
    assert kl.shape == (len(mu),)
    # Each term exp(v) - 1 - v + mu^2 is >= 0; float32 may round a sum of
    # near-zero terms a few ulps below zero, never more.
    assert np.all(kl >= -slack)
    np.testing.assert_array_less(np.abs(kl - numpy_kl(mu, log_var)), slack + 1e-30)


# 2. KL == 0 at the prior, > 0 away from it ---------------------------------


@property_test
@given(batch_sizes, latent_dims)
def test_kl_is_zero_at_the_prior(batch_size, latent_dim):
    zeros = np.zeros((batch_size, latent_dim), np.float32)
    np.testing.assert_array_equal(np.asarray(kl_loss(zeros, zeros)), 0.0)


# Below this, float32 can round the KL to exactly zero: with mu = 1e-5,
# 1 - mu^2 == 1 in float32 (see the example test below).
KL_POSITIVE_FROM = 1e-2


@property_test
@given(posteriors(mu_bound=0.1, log_var_range=(-0.1, 0.1)) | posteriors(mu_bound=10.0))
def test_kl_is_positive_away_from_the_prior(posterior):
    mu, log_var = posterior
    distance = np.maximum(np.abs(mu), np.abs(log_var)).max(axis=1)
    assume(np.any(distance > KL_POSITIVE_FROM))
    kl = np.asarray(kl_loss(mu, log_var))
    # A coordinate at 1e-2 contributes >= 2.5e-5, hundreds of float32 ulps of 1.
    assert np.all(kl[distance > KL_POSITIVE_FROM] > 0)


def test_kl_of_a_tiny_mean_rounds_to_zero_in_float32():
    # Why property 2 needs a tolerance: the exact KL here is 5e-11.
    tiny = np.array([[1e-5]], np.float32)
    assert float(np.asarray(kl_loss(tiny, np.zeros_like(tiny)))[0]) == 0.0


# 3. Reconstruction -----------------------------------------------------------


@property_test
@given(data_pairs())
def test_reconstruction_properties(pair):
    x, x_hat = pair
    loss = np.asarray(reconstruction_loss(x, x_hat))
    axes = tuple(range(1, x.ndim))
    assert loss.shape == (len(x),)
    assert np.all(loss >= 0)
    # Squaring a difference and its negation give the same float: exactly symmetric.
    np.testing.assert_array_equal(loss, np.asarray(reconstruction_loss(x_hat, x)))
    equal_rows = np.all(x == x_hat, axis=axes)
    np.testing.assert_array_equal(loss[equal_rows], 0.0)
    # A difference >= 1e-15 squares to >= 1e-30, far above float32's smallest
    # normal even after the mean; smaller ones may underflow to zero.
    difference = np.abs(as_float64(x) - as_float64(x_hat))
    assert np.all(loss[np.any(difference >= 1e-15, axis=axes)] > 0)
    # float32 difference, square and mean: a relative error of a few ulps per
    # element (at most 36 here); atol covers squares that underflow.
    reference = np.mean(difference**2, axis=axes)
    np.testing.assert_allclose(loss, reference, rtol=50 * EPS32, atol=1e-30)


# 4. Batch structure ----------------------------------------------------------


@st.composite
def loss_batches(draw):
    """``(x, x_hat, mu, log_var, permutation)`` with one batch size."""
    x, x_hat = draw(data_pairs(bound=10.0))
    latent_shape = (len(x), draw(latent_dims))
    mu = draw(hnp.arrays(np.float32, latent_shape, elements=float32s(-10, 10)))
    log_var = draw(hnp.arrays(np.float32, latent_shape, elements=float32s(-10, 5)))
    permutation = np.array(draw(st.permutations(range(len(x)))))
    return x, x_hat, mu, log_var, permutation


@property_test
@given(loss_batches(), float32s(0, 1e4))
def test_losses_permute_with_the_batch_and_the_mean_is_invariant(batch, alpha):
    x, x_hat, mu, log_var, order = batch
    reconstruction = as_float64(reconstruction_loss(x, x_hat))
    # Rounding allowances per sample: TensorFlow may round exp() differently
    # for another batch length (vectorised tail), so even a row's own value
    # can move by the rounding bound of its terms, not of the result.
    reconstruction_slack = 50 * EPS32 * reconstruction
    kl_slack = kl_rounding_bound(mu, log_var)
    losses = {
        "reconstruction": (reconstruction_loss, (x, x_hat), reconstruction_slack),
        "kl": (kl_loss, (mu, log_var), kl_slack),
        "combined": (
            lambda *a: combined_loss(*a, alpha),
            (x, x_hat, mu, log_var),
            alpha * reconstruction_slack + kl_slack + 1e-30,
        ),
    }
    for name, (loss, arguments, slack) in losses.items():
        per_sample = as_float64(loss(*arguments))
        # Each row is reduced on its own, so permuting rows permutes results.
        permuted = as_float64(loss(*(a[order] for a in arguments)))
        np.testing.assert_array_less(np.abs(permuted - per_sample[order]), slack[order] + 1e-30)
        # The batch mean (the training loss) may also change by the float32
        # summation order, when rows are permuted or the whole batch repeated.
        batch_mean = float(keras.ops.mean(per_sample.astype(np.float32)))
        permuted_mean = float(keras.ops.mean(loss(*(a[order] for a in arguments))))
        doubled = [np.concatenate([a, a]) for a in arguments]
        doubled_mean = float(keras.ops.mean(loss(*doubled)))
        mean_slack = slack.mean() + 16 * EPS32 * abs(batch_mean) + 1e-30
        assert abs(permuted_mean - batch_mean) <= mean_slack, name
        assert abs(doubled_mean - batch_mean) <= mean_slack, name


# 5. Combined loss and alpha --------------------------------------------------


@property_test
@given(loss_batches(), float32s(0, 1e4), float32s(0, 1e4))
def test_combined_loss_is_monotone_in_alpha_and_kl_at_zero(batch, alpha, other_alpha):
    x, x_hat, mu, log_var, _ = batch
    low, high = sorted([alpha, other_alpha])
    at_low = np.asarray(combined_loss(x, x_hat, mu, log_var, low))
    at_high = np.asarray(combined_loss(x, x_hat, mu, log_var, high))
    # Rounding is monotone, so a larger alpha never gives a smaller float:
    # no slack is needed.
    assert np.all(at_low <= at_high)
    np.testing.assert_array_equal(
        np.asarray(combined_loss(x, x_hat, mu, log_var, 0.0)), np.asarray(kl_loss(mu, log_var))
    )


# 6. Closed-form KL against Monte Carlo --------------------------------------

N_MONTE_CARLO = 4000


@property_test
@given(posteriors(mu_bound=5.0, log_var_range=(-6.0, 3.0)), st.integers(0, 2**32 - 1))
def test_closed_form_kl_matches_monte_carlo(posterior, seed):
    mu, log_var = posterior
    # The seed is drawn by hypothesis, so a failure reproduces and shrinks.
    eps = np.random.default_rng(seed).standard_normal((N_MONTE_CARLO, *mu.shape))
    z = mu + np.exp(0.5 * as_float64(log_var)) * eps
    log_ratio = np.asarray(diagonal_normal_log_density(z, mu, log_var)) - np.asarray(
        standard_normal_log_density(z)
    )
    estimate = log_ratio.mean(axis=0)
    standard_error = log_ratio.std(axis=0, ddof=1) / math.sqrt(N_MONTE_CARLO)
    kl = np.asarray(kl_loss(mu, log_var))
    # Five standard errors: a false alarm has probability ~6e-7 per row;
    # the float32 KL adds its rounding bound.
    tolerance = 5 * standard_error + kl_rounding_bound(mu, log_var)
    np.testing.assert_array_less(np.abs(estimate - kl), tolerance)


# The log-density helpers with every normalising constant ---------------------


@property_test
@given(posteriors(mu_bound=10.0, log_var_range=(-10.0, 5.0)), st.data())
def test_log_densities_match_scipy(float64_ops, posterior, data):
    mu, log_var = posterior
    z = data.draw(hnp.arrays(np.float64, mu.shape, elements=st.floats(-20, 20)), label="z")
    scale = np.exp(0.5 * as_float64(log_var))
    with float64_ops():
        density = np.asarray(diagonal_normal_log_density(z, mu, log_var))
        standard_density = np.asarray(standard_normal_log_density(z))
    np.testing.assert_allclose(
        density, stats.norm.logpdf(z, loc=mu, scale=scale).sum(axis=1), rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(
        standard_density, stats.norm.logpdf(z).sum(axis=1), rtol=1e-12, atol=1e-12
    )


@property_test
@given(data_pairs(bound=10.0), st.floats(1e-3, 1e3))
def test_gaussian_log_likelihood_matches_scipy(pair, variance):
    x, x_hat = pair
    axes = tuple(range(1, x.ndim))
    reference = stats.norm.logpdf(
        as_float64(x), loc=as_float64(x_hat), scale=math.sqrt(variance)
    ).sum(axis=axes)
    # float32 terms of size |reference|: a relative error of ~1e-6.
    np.testing.assert_allclose(
        np.asarray(gaussian_log_likelihood(x, x_hat, variance)),
        reference,
        rtol=1e-5,
        atol=1e-4,
    )


@property_test
@given(loss_batches(), st.floats(1e-2, 1e4))
def test_elbo_is_the_negative_training_loss_minus_a_constant(batch, alpha):
    x, x_hat, mu, log_var, _ = batch
    n_features = math.prod(x.shape[1:])
    assert decoder_variance(alpha, n_features) == pytest.approx(n_features / (2 * alpha))
    variance = decoder_variance(alpha, n_features)
    elbo = as_float64(
        evidence_lower_bound(gaussian_log_likelihood(x, x_hat, variance), mu, log_var)
    )
    loss = as_float64(combined_loss(x, x_hat, mu, log_var, alpha))
    constant = 0.5 * n_features * math.log(math.pi * n_features / alpha)
    # float32 sums of terms as large as the loss itself.
    scale = np.abs(loss) + abs(constant) + 1.0
    np.testing.assert_array_less(np.abs(elbo - (-loss - constant)), 1e-5 * scale)


# The calibrated (sigma-VAE) decoder and the Bernoulli likelihood ------------


@st.composite
def unit_interval_pairs(draw, binary):
    """``(x, p)``: data in [0, 1] (0/1 when ``binary``) and probabilities."""
    shape = (draw(batch_sizes), *draw(sample_shapes))
    elements = st.sampled_from([0.0, 1.0]) if binary else float32s(0, 1)
    x = draw(hnp.arrays(np.float32, shape, elements=elements))
    p = draw(hnp.arrays(np.float32, shape, elements=float32s(1e-3, 1 - 1e-3)))
    return x, p


@property_test
@given(unit_interval_pairs(binary=True))
def test_bernoulli_log_likelihood_is_the_summed_logpmf(pair):
    x, p = pair
    axes = tuple(range(1, x.ndim))
    reference = stats.bernoulli.logpmf(np.int64(x), as_float64(p)).sum(axis=axes)
    # float32 logs of p >= 1e-3: at most ~7 nats per feature, each to ~1e-6.
    np.testing.assert_allclose(
        np.asarray(bernoulli_log_likelihood(x, p)), reference, rtol=1e-5, atol=1e-4
    )


@property_test
@given(unit_interval_pairs(binary=False), posteriors(mu_bound=10, log_var_range=(-10, 5)))
def test_bernoulli_reconstruction_is_the_mean_cross_entropy(pair, posterior):
    x, p = pair
    mu, log_var = (v[: len(x)] for v in posterior)
    assume(len(mu) == len(x))
    n_features = math.prod(x.shape[1:])
    cross_entropy = np.asarray(
        keras.losses.binary_crossentropy(x, p, axis=tuple(range(1, x.ndim)))
    )
    bce = np.asarray(reconstruction_loss(x, p, "bernoulli"))
    np.testing.assert_allclose(bce, cross_entropy, rtol=1e-5, atol=1e-6)
    # alpha = "auto" for a Bernoulli decoder is the negative ELBO: alpha = D.
    np.testing.assert_allclose(
        np.asarray(calibrated_loss(x, p, mu, log_var, "bernoulli")),
        np.asarray(combined_loss(x, p, mu, log_var, n_features, "bernoulli")),
        rtol=1e-5,
        atol=1e-3,
    )


def test_bernoulli_probabilities_are_clipped_to_a_finite_log():
    x = np.array([[1.0, 0.0]], np.float32)
    saturated = np.array([[0.0, 1.0]], np.float32)
    value = float(np.asarray(bernoulli_log_likelihood(x, saturated))[0])
    # About log(epsilon) per feature (float32 rounds 1 - epsilon a little).
    assert math.isfinite(value)
    assert value == pytest.approx(2 * math.log(BERNOULLI_EPSILON), rel=0.01)


@property_test
@given(data_pairs(bound=10.0), posteriors(mu_bound=10, log_var_range=(-10, 5)))
def test_calibrated_loss_is_the_gaussian_nll_at_the_optimal_variance(pair, posterior):
    x, x_hat = pair
    mu, log_var = (v[: len(x)] for v in posterior)
    assume(len(mu) == len(x))
    axes = tuple(range(1, x.ndim))
    squared = (as_float64(x) - as_float64(x_hat)) ** 2
    variance = max(squared.mean(), MIN_DECODER_VARIANCE)
    nll = -stats.norm.logpdf(as_float64(x), as_float64(x_hat), math.sqrt(variance)).sum(axis=axes)
    expected = nll + numpy_kl(mu, log_var)
    loss = np.asarray(calibrated_loss(x, x_hat, mu, log_var), np.float64)
    # float32 terms as large as the loss itself, and the variance's rounding.
    scale = np.abs(expected) + np.abs(nll) + 1.0
    np.testing.assert_array_less(np.abs(loss - expected), 1e-4 * scale)


@property_test
@given(data_pairs(bound=10.0), st.sampled_from([0.3, 0.7, 0.95, 1.05, 1.5, 4.0]))
def test_optimal_variance_maximises_the_gaussian_log_likelihood(pair, factor):
    x, x_hat = pair
    variance = float(optimal_decoder_variance(reconstruction_loss(x, x_hat)))
    assume(variance > 10 * MIN_DECODER_VARIANCE)  # not at the floor

    def total(v):
        axes = tuple(range(1, x.ndim))
        return (
            stats.norm.logpdf(as_float64(x), as_float64(x_hat), math.sqrt(v)).sum(axis=axes).sum()
        )

    # float32 rounding of the variance costs far less than any grid step.
    assert total(variance) >= total(factor * variance) - 1e-6 * abs(total(variance))


def test_optimal_variance_has_a_floor():
    x = np.ones((3, 4), np.float32)
    floor = float(optimal_decoder_variance(reconstruction_loss(x, x)))
    assert floor == pytest.approx(MIN_DECODER_VARIANCE, rel=1e-6)


@property_test
@given(posteriors(mu_bound=5, log_var_range=(-4, 2)), st.integers(1, 5), st.data())
def test_importance_weights_match_numpy(float64_ops, posterior, n_draws, data):
    mu, log_var = as_float64(posterior[0]), as_float64(posterior[1])
    shape = (len(mu), n_draws, mu.shape[1])
    z = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-5, 5)))
    log_likelihood = data.draw(hnp.arrays(np.float64, shape[:2], elements=st.floats(-50, 0)))
    prior = stats.norm.logpdf(z).sum(-1)
    posterior_density = stats.norm.logpdf(z, mu[:, None], np.exp(0.5 * log_var)[:, None]).sum(-1)
    expected = log_likelihood + prior - posterior_density
    with float64_ops():
        weights = np.asarray(log_importance_weights(log_likelihood, z, mu, log_var))
        bound = np.asarray(importance_weighted_bound(weights))
    np.testing.assert_allclose(weights, expected, rtol=1e-9, atol=1e-9)
    reference = np.log(np.mean(np.exp(expected - expected.max(1, keepdims=True)), 1))
    np.testing.assert_allclose(bound, reference + expected.max(1), rtol=1e-9, atol=1e-9)


# Numerical safety over LOG_VAR_RANGE -----------------------------------------


@property_test
@given(posteriors(mu_bound=1e3), st.integers(0, 2**31 - 1))
def test_losses_and_sampling_are_finite_over_the_log_var_range(posterior, seed):
    mu, log_var = posterior
    # Put both ends of the documented range in every example.
    log_var[0, 0] = LOG_VAR_RANGE[0]
    log_var[-1, -1] = LOG_VAR_RANGE[1]
    assert np.all(np.isfinite(np.asarray(kl_loss(mu, log_var))))
    z = np.asarray(Sampling(seed=seed)([mu, log_var]))
    assert z.shape == mu.shape
    assert np.all(np.isfinite(z))
    assert np.all(np.isfinite(np.asarray(diagonal_normal_log_density(z, mu, log_var))))
    assert np.all(np.isfinite(np.asarray(standard_normal_log_density(z))))


def test_kl_overflows_outside_the_range_which_is_why_the_encoder_clips():
    # exp(100) overflows float32: the clip in the encoder is what keeps the
    # training loss finite, not the loss function.
    assert np.isinf(np.asarray(kl_loss(np.zeros((1, 1), np.float32), [[100.0]]))[0])


@pytest.mark.parametrize("bias, expected", [(1e4, LOG_VAR_RANGE[1]), (-1e4, LOG_VAR_RANGE[0])])
def test_encoder_clips_log_var_to_the_documented_range(bias, expected):
    encoder = build_encoder(
        (3,), NetworkStructure(2, architecture="dense", hidden_layer_sizes=(4,)), seed=0
    )
    layer = encoder.get_layer("log_var_unclipped")
    kernel, _ = layer.get_weights()
    layer.set_weights([kernel, np.full(2, bias, np.float32)])
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    mu, log_var = (np.asarray(v) for v in encoder(x))
    np.testing.assert_array_equal(log_var, expected)
    assert np.all(np.isfinite(np.asarray(kl_loss(mu, log_var))))


# 7. score_samples: IWAE against the ELBO -------------------------------------


@pytest.fixture(scope="module")
def small_vae(digits):
    """A barely trained dense VAE, where the IWAE bound is clearly tighter."""
    X = digits[0][:300]
    vae = VariationalAutoencoder(
        latent_dim=2,
        architecture="dense",
        hidden_layer_sizes=(16,),
        alpha=20.0,
        epochs=3,
        random_state=0,
    ).fit(X)
    return vae, X[:200]


def scores_for(vae, X, n_importance_samples, scoring_seed):
    # The draws of score_samples are seeded at fit; replacing that seed
    # stands in for refitting with another random_state without new weights.
    vae._inference_seed = scoring_seed
    return vae.set_params(n_importance_samples=n_importance_samples).score_samples(X)


# Four standard errors of a paired mean over 200 rows; the true gaps are
# positive, so this only allows the estimates' own noise.
Z_TOLERANCE = 4.0


def assert_not_lower_on_average(higher, lower):
    gap = higher - lower
    standard_error = gap.std(ddof=1) / math.sqrt(len(gap))
    assert gap.mean() >= -Z_TOLERANCE * standard_error, (gap.mean(), standard_error)


@settings(deadline=None, max_examples=max(3, settings.default.max_examples // 20))
@given(st.integers(0, 2**31 - 2))
def test_iwae_is_finite_and_tightens_with_k_on_average(small_vae, scoring_seed):
    vae, X = small_vae
    elbo = scores_for(vae, X, 1, scoring_seed)
    iwae = {k: scores_for(vae, X, k, scoring_seed) for k in (10, 100)}
    for scores in (elbo, *iwae.values()):
        assert scores.shape == (len(X),)
        assert np.all(np.isfinite(scores))
    assert_not_lower_on_average(iwae[10], elbo)
    assert_not_lower_on_average(iwae[100], iwae[10])


# Missing entries: masked likelihoods and the imputation's weighted mean -----


@st.composite
def incomplete_pairs(draw, bound=10.0):
    """``(x, x_hat, observed)``: ``x`` with NaN where ``observed`` is False."""
    x, x_hat = draw(data_pairs(bound=bound))
    observed = draw(hnp.arrays(np.bool_, x.shape))
    return np.where(observed, x, np.float32(np.nan)), x_hat, observed


@property_test
@given(incomplete_pairs())
def test_observed_entries_fill_with_zero_and_mark_the_observed(pair):
    x, _, observed = pair
    filled, mask = (np.asarray(v) for v in observed_entries(x))
    assert np.array_equal(filled, np.where(observed, x, 0))
    assert np.array_equal(mask, observed.astype(np.float32))
    np.testing.assert_allclose(
        np.asarray(observed_fraction(mask)), observed.reshape(len(x), -1).mean(axis=1), rtol=1e-6
    )


@property_test
@given(incomplete_pairs(), st.floats(1e-3, 1e3))
def test_masked_likelihoods_cover_the_observed_entries_only(pair, variance):
    x, x_hat, observed = pair
    filled, mask = observed_entries(x)
    axes = tuple(range(1, x.ndim))
    gaussian = stats.norm.logpdf(as_float64(filled), as_float64(x_hat), math.sqrt(variance))
    np.testing.assert_allclose(
        np.asarray(gaussian_log_likelihood(filled, x_hat, variance, mask)),
        np.where(observed, gaussian, 0).sum(axis=axes),
        rtol=1e-5,
        atol=1e-4,
    )
    squared = np.where(observed, (as_float64(filled) - as_float64(x_hat)) ** 2, 0)
    # Divided by every feature, observed or not: a feature's weight is fixed.
    np.testing.assert_allclose(
        np.asarray(reconstruction_loss(filled, x_hat, mask=mask)),
        squared.reshape(len(x), -1).mean(axis=1),
        rtol=1e-5,
        atol=1e-6,
    )
    binary = (np.abs(filled) > 1).astype(np.float32)
    p = np.clip(np.abs(np.asarray(x_hat)) / 10, 1e-3, 1 - 1e-3)
    bernoulli = stats.bernoulli.logpmf(np.int64(binary), as_float64(p))
    np.testing.assert_allclose(
        np.asarray(bernoulli_log_likelihood(binary, p, mask)),
        np.where(observed, bernoulli, 0).sum(axis=axes),
        rtol=1e-5,
        atol=1e-4,
    )


@property_test
@given(data_pairs(bound=10.0), posteriors(mu_bound=10, log_var_range=(-10, 5)))
def test_a_full_mask_changes_nothing(pair, posterior):
    x, x_hat = pair
    mu, log_var = (v[: len(x)] for v in posterior)
    assume(len(mu) == len(x))
    mask = np.ones_like(x)
    for without, with_mask in [
        (reconstruction_loss(x, x_hat), reconstruction_loss(x, x_hat, mask=mask)),
        (gaussian_log_likelihood(x, x_hat, 0.5), gaussian_log_likelihood(x, x_hat, 0.5, mask)),
        (
            calibrated_loss(x, x_hat, mu, log_var),
            calibrated_loss(x, x_hat, mu, log_var, mask=mask),
        ),
    ]:
        np.testing.assert_allclose(np.asarray(with_mask), np.asarray(without), rtol=1e-6)


@property_test
@given(incomplete_pairs(), posteriors(mu_bound=10, log_var_range=(-10, 5)))
def test_masked_calibrated_loss_fits_the_variance_to_the_observed_entries(pair, posterior):
    x, x_hat, observed = pair
    mu, log_var = (v[: len(x)] for v in posterior)
    assume(len(mu) == len(x) and observed.any())
    filled, mask = observed_entries(x)
    squared = np.where(observed, (as_float64(filled) - as_float64(x_hat)) ** 2, 0)
    variance = max(squared.sum() / observed.sum(), MIN_DECODER_VARIANCE)
    fitted = optimal_decoder_variance(
        reconstruction_loss(filled, x_hat, mask=mask), observed_fraction(mask)
    )
    assert float(fitted) == pytest.approx(variance, rel=1e-5)
    log_pdf = stats.norm.logpdf(as_float64(filled), as_float64(x_hat), math.sqrt(variance))
    nll = -np.where(observed, log_pdf, 0).sum(axis=tuple(range(1, x.ndim)))
    expected = nll + numpy_kl(mu, log_var)
    loss = np.asarray(calibrated_loss(filled, x_hat, mu, log_var, mask=mask), np.float64)
    scale = np.abs(expected) + np.abs(nll) + 1.0
    np.testing.assert_array_less(np.abs(loss - expected), 1e-4 * scale)


def test_a_batch_with_nothing_observed_gets_the_floor_variance():
    x = np.full((2, 3), np.nan, np.float32)
    filled, mask = observed_entries(x)
    errors = reconstruction_loss(filled, np.ones_like(filled), mask=mask)
    variance = float(optimal_decoder_variance(errors, observed_fraction(mask)))
    assert variance == pytest.approx(MIN_DECODER_VARIANCE)


@property_test
@given(
    hnp.arrays(np.float32, st.tuples(batch_sizes, st.integers(1, 8)), elements=float32s(-50, 50)),
    st.integers(1, 4),
    st.integers(0, 2**32 - 1),
)
def test_importance_weighted_mean_is_the_self_normalised_average(log_weights, n_features, seed):
    values = np.random.default_rng(seed).normal(size=(*log_weights.shape, n_features))
    weights = np.exp(as_float64(log_weights) - as_float64(log_weights).max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    expected = np.einsum("bk,bkf->bf", weights, values)
    mean = np.asarray(importance_weighted_mean(log_weights, values.astype(np.float32)))
    np.testing.assert_allclose(mean, expected, rtol=1e-5, atol=1e-5)


@property_test
@given(posteriors(mu_bound=10, log_var_range=(-10, 5)), st.integers(1, 4), st.data())
def test_reparameterize_is_mu_plus_sigma_times_eps(float64_ops, posterior, n_draws, data):
    mu, log_var = as_float64(posterior[0]), as_float64(posterior[1])
    shape = (len(mu), n_draws, mu.shape[1])
    eps = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-5, 5)))
    with float64_ops():
        z = np.asarray(reparameterize(mu[:, None], log_var[:, None], eps))
    expected = mu[:, None] + np.sqrt(np.exp(log_var))[:, None] * eps
    np.testing.assert_allclose(z, expected, rtol=1e-12, atol=1e-12)


def test_sampling_draws_through_reparameterize():
    mu, log_var = np.float32([[1.0, -2.0]]), np.float32([[0.5, -3.0]])
    layer = Sampling(seed=3)
    z = np.asarray(layer([mu, log_var]))
    eps = np.asarray(keras.random.normal((1, 2), seed=keras.random.SeedGenerator(3)))
    np.testing.assert_allclose(z, np.asarray(reparameterize(mu, log_var, eps)), rtol=1e-6)


@property_test
@given(
    hnp.arrays(np.float64, st.tuples(batch_sizes, st.integers(1, 8)), elements=st.floats(-30, 30)),
    st.data(),
)
def test_resampled_index_picks_the_first_draw_whose_cumulative_weight_reaches_u(log_weights, data):
    u = data.draw(hnp.arrays(np.float64, log_weights.shape[:1], elements=st.floats(0, 1)))
    weights = np.exp(log_weights - log_weights.max(axis=1, keepdims=True))
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    # Away from the ties where float rounding decides.
    assume(np.all(np.abs(cumulative - u[:, None]) > 1e-9))
    expected = np.minimum((cumulative < u[:, None]).sum(axis=1), log_weights.shape[1] - 1)
    np.testing.assert_array_equal(np.asarray(resampled_index(log_weights, u)), expected)


def test_resampled_index_picks_draws_in_proportion_to_their_weights():
    weights = np.array([0.1, 0.6, 0.3])
    u = (np.arange(10_000) + 0.5) / 10_000  # evenly spread over (0, 1)
    log_weights = np.tile(np.log(weights), (len(u), 1))
    counts = np.bincount(np.asarray(resampled_index(log_weights, u)), minlength=3)
    np.testing.assert_allclose(counts / len(u), weights, atol=1e-3)


# The learned noise model and the k-draw objective ---------------------------


@property_test
@given(incomplete_pairs(), st.data())
def test_a_variance_per_feature_is_the_summed_normal_logpdf(pair, data):
    x, x_hat, _ = pair
    variance = data.draw(hnp.arrays(np.float32, x.shape[1:], elements=float32s(1e-3, 1e3)))
    filled, mask = (np.asarray(v) for v in observed_entries(x))
    got = np.asarray(gaussian_log_likelihood(filled, x_hat, variance, mask), np.float64)
    logpdf = stats.norm.logpdf(
        as_float64(filled), as_float64(x_hat), np.sqrt(as_float64(variance))
    )
    expected = np.where(mask > 0, logpdf, 0).reshape(len(x), -1).sum(axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


@property_test
@given(incomplete_pairs(), st.data())
def test_student_t_is_the_summed_t_logpdf(pair, data):
    x, x_hat, _ = pair
    shape = x.shape[1:]
    variance = data.draw(hnp.arrays(np.float32, shape, elements=float32s(1e-2, 1e2)))
    df = data.draw(hnp.arrays(np.float32, shape, elements=float32s(2.0, 50.0)))
    filled, mask = (np.asarray(v) for v in observed_entries(x))
    got = np.asarray(student_t_log_likelihood(filled, x_hat, variance, df, mask), np.float64)
    logpdf = stats.t.logpdf(
        as_float64(filled), as_float64(df), as_float64(x_hat), np.sqrt(as_float64(variance))
    )
    expected = np.where(mask > 0, logpdf, 0).reshape(len(x), -1).sum(axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


@property_test
@given(posteriors(mu_bound=5, log_var_range=(-4, 2)), st.integers(1, 6), st.data())
def test_the_k_draw_loss_is_minus_the_log_mean_importance_weight(
    float64_ops, posterior, n_draws, data
):
    mu, log_var = as_float64(posterior[0]), as_float64(posterior[1])
    shape = (len(mu), n_draws, mu.shape[1])
    z = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-5, 5)))
    log_likelihood = data.draw(hnp.arrays(np.float64, shape[:2], elements=st.floats(-50, 0)))
    log_q = stats.norm.logpdf(z, mu[:, None], np.exp(0.5 * log_var)[:, None]).sum(-1)
    log_w = log_likelihood + stats.norm.logpdf(z).sum(-1) - log_q
    expected = -(np.log(np.mean(np.exp(log_w - log_w.max(1, keepdims=True)), 1)) + log_w.max(1))
    with float64_ops():
        got = np.asarray(importance_weighted_loss(log_likelihood, z, mu, log_var))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
