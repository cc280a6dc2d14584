"""The likelihood families and their registry: densities, draws, a new family end to end."""

import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keras import ops
from scipy import stats

import skvae
from skvae import VAEImputer, VariationalAutoencoder, _likelihoods
from skvae._likelihoods import (
    LIKELIHOOD_NAMES,
    Likelihood,
    likelihood_family,
    register_likelihood,
)
from skvae._losses import observed_entries, reparameterize
from skvae._seeding import row_noise

# The first call of a TensorFlow op traces a graph, far slower than hypothesis's deadline.
property_test = settings(deadline=None)


def float32s(low, high):
    """Normal float32 values in ``[low, high]``."""
    return st.floats(
        float(np.float32(low)), float(np.float32(high)), width=32, allow_subnormal=False
    )


@st.composite
def tables(draw, elements=None):
    """``(x, x_hat, observed)``: float32 tables of one shape, ``x`` NaN where not observed."""
    shape = (draw(st.integers(1, 5)), draw(st.integers(1, 6)))
    if elements is None:
        elements = float32s(-10, 10)
    x = draw(hnp.arrays(np.float32, shape, elements=elements))
    x_hat = draw(hnp.arrays(np.float32, shape, elements=float32s(-10, 10)))
    observed = draw(hnp.arrays(np.bool_, shape))
    return np.where(observed, x, np.float32(np.nan)), x_hat, observed


def per_feature(data, shape, low, high):
    """One float32 value per feature, or one for all, drawn by hypothesis."""
    shape = data.draw(st.sampled_from([(), shape[1:]]))
    return data.draw(hnp.arrays(np.float32, shape, elements=float32s(low, high)))


def summed_observed(logpdf, observed):
    """Reference ``log p(x_obs | z)``: the per-entry log-densities summed over the observed."""
    return np.where(observed, logpdf, 0.0).sum(axis=1)


def family_log_prob(name, x, x_hat, **noise):
    filled, mask = observed_entries(x)
    log_p = likelihood_family(name).log_prob(filled, x_hat, mask, **noise)
    return np.asarray(log_p, dtype=np.float64)


# Each family's log-probability against scipy.stats ---------------------------


@property_test
@given(tables(), st.data())
def test_the_gaussian_is_the_summed_normal_logpdf(table, data):
    x, x_hat, observed = table
    variance = per_feature(data, x.shape, 1e-2, 1e2)
    logpdf = stats.norm.logpdf(x, x_hat, np.sqrt(np.asarray(variance, dtype=np.float64)))
    np.testing.assert_allclose(
        family_log_prob("gaussian", x, x_hat, variance=variance),
        summed_observed(logpdf, observed),
        rtol=1e-4,
        atol=1e-3,
    )


@property_test
@given(tables(), st.data())
def test_students_t_is_the_summed_t_logpdf(table, data):
    x, x_hat, observed = table
    variance = per_feature(data, x.shape, 1e-2, 1e2)
    df = per_feature(data, x.shape, 2.0, 50.0)
    logpdf = stats.t.logpdf(
        x, np.asarray(df, dtype=np.float64), x_hat, np.sqrt(np.asarray(variance, dtype=np.float64))
    )
    np.testing.assert_allclose(
        family_log_prob("student_t", x, x_hat, variance=variance, df=df),
        summed_observed(logpdf, observed),
        rtol=1e-4,
        atol=1e-3,
    )


@property_test
@given(tables(elements=st.sampled_from([0.0, 1.0])), st.data())
def test_the_bernoulli_is_the_summed_logpmf(table, data):
    x, _, observed = table
    p = data.draw(hnp.arrays(np.float32, x.shape, elements=float32s(1e-3, 1 - 1e-3)))
    logpmf = stats.bernoulli.logpmf(np.nan_to_num(x), np.asarray(p, dtype=np.float64))
    np.testing.assert_allclose(
        family_log_prob("bernoulli", x, p), summed_observed(logpmf, observed), rtol=1e-5, atol=1e-4
    )


@st.composite
def categorical_columns(draw):
    """``(one_hot, logits, observed)``: a categorical column of ``k`` categories, one-hot."""
    n, k = draw(st.integers(1, 5)), draw(st.integers(2, 6))
    codes = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)))
    logits = draw(hnp.arrays(np.float32, (n, k), elements=float32s(-10, 10)))
    observed = draw(hnp.arrays(np.bool_, (n,)))
    return np.eye(k, dtype=np.float32)[codes], logits, observed


def _categorical_log_prob(one_hot, logits, observed, family=None):
    mask = np.broadcast_to(observed[:, None], one_hot.shape).astype(np.float32)
    family = family or _likelihoods.Categorical()
    return np.asarray(family.log_prob(one_hot * mask, logits, mask), dtype=np.float64)


@property_test
@given(categorical_columns())
def test_the_categorical_is_the_multinomial_logpmf_of_one_draw(column):
    one_hot, logits, observed = column
    p = np.exp(logits - logits.max(axis=1, keepdims=True).astype(np.float64))
    p /= p.sum(axis=1, keepdims=True)
    logpmf = np.array(
        [stats.multinomial(1, row).logpmf(x) for row, x in zip(p, one_hot, strict=True)]
    )
    np.testing.assert_allclose(
        _categorical_log_prob(one_hot, logits, observed),
        np.where(observed, logpmf, 0.0),
        rtol=1e-4,
        atol=1e-4,
    )


@property_test
@given(tables(), categorical_columns(), st.data())
def test_a_mixed_table_sums_its_columns_log_densities_and_masses(table, column, data):
    x, x_hat, observed = table
    one_hot, logits, column_observed = column
    n = min(len(x), len(one_hot))
    x, x_hat, observed = x[:n], x_hat[:n], observed[:n]
    one_hot, logits, column_observed = one_hot[:n], logits[:n], column_observed[:n]
    n_real, k = x.shape[1], one_hot.shape[1]
    variance = per_feature(data, x.shape, 1e-2, 1e2)
    df = per_feature(data, x.shape, 2.0, 50.0)

    # The noise has one entry per network feature; the categories' entries are unused.
    def pad(v):
        return v if v.ndim == 0 else np.concatenate([v, np.full(k, np.float32(7))])

    family = _likelihoods.MixedLikelihood(
        [
            (0, n_real, likelihood_family("student_t")),
            (n_real, n_real + k, _likelihoods.Categorical()),
        ]
    )
    features = np.concatenate(
        [x, np.where(column_observed[:, None], one_hot, np.float32(np.nan))], axis=1
    )
    filled, mask = observed_entries(features)
    log_p = family.log_prob(
        filled, np.concatenate([x_hat, logits], axis=1), mask, variance=pad(variance), df=pad(df)
    )
    real = summed_observed(
        stats.t.logpdf(
            x,
            np.asarray(df, dtype=np.float64),
            x_hat,
            np.sqrt(np.asarray(variance, dtype=np.float64)),
        ),
        observed,
    )
    categorical = _categorical_log_prob(one_hot, logits, column_observed)
    np.testing.assert_allclose(
        np.asarray(log_p, dtype=np.float64), real + categorical, rtol=1e-4, atol=1e-3
    )
    # The training objective's categorical_weight multiplies the categorical terms alone.
    weight = data.draw(st.floats(0.1, 10.0))
    weighted = family.with_categorical_weight(weight).log_prob(
        filled, np.concatenate([x_hat, logits], axis=1), mask, variance=pad(variance), df=pad(df)
    )
    np.testing.assert_allclose(
        np.asarray(weighted, dtype=np.float64), real + weight * categorical, rtol=1e-4, atol=1e-3
    )


@property_test
@given(st.data())
def test_the_poisson_is_the_summed_logpmf_at_the_softplus_rate(data):
    shape = (data.draw(st.integers(1, 5)), data.draw(st.integers(1, 4)))
    x = data.draw(hnp.arrays(np.float32, shape, elements=st.integers(0, 60).map(float)))
    x_hat = data.draw(hnp.arrays(np.float32, shape, elements=float32s(-10, 10)))
    observed = data.draw(hnp.arrays(np.bool_, shape))
    family = _likelihoods.Poisson()
    rate = np.asarray(family.mean(x_hat), dtype=np.float64)
    np.testing.assert_allclose(
        rate, np.logaddexp(0, np.asarray(x_hat, dtype=np.float64)) + 1e-6, rtol=1e-5
    )
    filled, mask = observed_entries(np.where(observed, x, np.float32(np.nan)))
    np.testing.assert_allclose(
        np.asarray(family.log_prob(filled, x_hat, mask), dtype=np.float64),
        summed_observed(stats.poisson.logpmf(x, rate), observed),
        rtol=1e-4,
        atol=1e-3,
    )


def test_poisson_draws_follow_the_rate():
    family = _likelihoods.Poisson()
    rate = np.full(6000, 3.5, np.float32)
    draws = family.draw(
        rate, family.standard_noise(np.random.default_rng(0), rate.shape), variance=None
    )
    assert np.array_equal(draws, np.round(draws)) and draws.min() >= 0
    assert draws.mean() == pytest.approx(3.5, abs=0.1) and draws.var() == pytest.approx(
        3.5, abs=0.3
    )


def standardizing(data, shape, location, scale):
    """Per-column ``(location, scale)`` in the given ranges, drawn by hypothesis."""
    location = data.draw(hnp.arrays(np.float32, shape[1:], elements=float32s(*location)))
    scale = data.draw(hnp.arrays(np.float32, shape[1:], elements=float32s(*scale)))
    return location.astype(np.float64), scale.astype(np.float64)


@property_test
@given(tables(elements=float32s(1e-2, 1e3)), st.data())
def test_a_positive_column_is_the_summed_lognormal_logpdf(table, data):
    x, x_hat, observed = table
    variance = per_feature(data, x.shape, 1e-2, 1e1)
    # Log-scale locations and scales of real positive data.
    location, scale = standardizing(data, x.shape, (-3, 3), (0.1, 3))
    family = _likelihoods.Standardized(likelihood_family("gaussian"), location, scale, log=True)
    # The network reads u = (log x - location) / scale; N(x_hat, variance) on
    # u is the log-normal of x with log-location and log-scale mapped back.
    u = (np.log(x.astype(np.float64)) - location) / scale
    filled, mask = observed_entries(u.astype(np.float32))
    logpdf = stats.lognorm.logpdf(
        np.asarray(x, dtype=np.float64),
        np.sqrt(np.asarray(variance, dtype=np.float64)) * scale,
        scale=np.exp(np.asarray(x_hat, dtype=np.float64) * scale + location),
    )
    np.testing.assert_allclose(
        np.asarray(family.log_prob(filled, x_hat, mask, variance=variance), dtype=np.float64),
        summed_observed(logpdf, observed),
        rtol=1e-4,
        atol=1e-2,
    )


@property_test
@given(tables(), st.data())
def test_a_standardized_real_column_is_the_normal_logpdf_in_its_own_units(table, data):
    x, x_hat, observed = table
    variance = per_feature(data, x.shape, 1e-2, 1e1)
    location, scale = standardizing(data, x.shape, (-10, 10), (0.1, 100))
    family = _likelihoods.Standardized(likelihood_family("gaussian"), location, scale)
    u = (np.asarray(x, dtype=np.float64) - location) / scale
    filled, mask = observed_entries(u.astype(np.float32))
    logpdf = stats.norm.logpdf(
        np.asarray(x, dtype=np.float64),
        np.asarray(x_hat, dtype=np.float64) * scale + location,
        np.sqrt(np.asarray(variance, dtype=np.float64)) * scale,
    )
    np.testing.assert_allclose(
        np.asarray(family.log_prob(filled, x_hat, mask, variance=variance), dtype=np.float64),
        summed_observed(logpdf, observed),
        rtol=1e-4,
        atol=1e-2,
    )


@property_test
@given(categorical_columns())
def test_the_ordinal_is_the_difference_of_cumulative_logistic_probabilities(column):
    one_hot, x_hat, observed = column
    x_hat = x_hat / 4  # moderate steps keep every category's probability above the floor
    eta = x_hat[:, :1].astype(np.float64)
    thresholds = np.cumsum(
        np.concatenate([x_hat[:, 1:2], np.logaddexp(0, x_hat[:, 2:])], axis=1), axis=1
    )
    # astype, not np.float64(...): NumPy 1.x makes a one-element array a scalar.
    cumulative = stats.logistic.cdf(thresholds.astype(np.float64) - eta)
    n = len(x_hat)
    cumulative = np.concatenate([np.zeros((n, 1)), cumulative, np.ones((n, 1))], axis=1)
    probabilities = np.maximum(np.diff(cumulative, axis=1), 1e-7)
    expected = np.log((one_hot * probabilities).sum(axis=1))
    np.testing.assert_allclose(
        _categorical_log_prob(one_hot, x_hat, observed, family=_likelihoods.Ordinal()),
        np.where(observed, expected, 0.0),
        rtol=1e-4,
        atol=1e-4,
    )


def test_the_categorical_mean_is_the_softmax_and_its_draws_follow_it():
    family = _likelihoods.Categorical()
    logits = np.log(np.array([[0.2, 0.5, 0.3]], np.float32))
    probabilities = np.asarray(family.mean(logits))
    np.testing.assert_allclose(probabilities, [[0.2, 0.5, 0.3]], rtol=1e-5)
    rng = np.random.default_rng(0)
    location = np.repeat(probabilities, 6000, axis=0)
    draws = family.draw(location, family.standard_noise(rng, location.shape), variance=None)
    assert set(np.unique(draws.sum(axis=1))) == {1.0}
    np.testing.assert_allclose(draws.mean(axis=0), [0.2, 0.5, 0.3], atol=0.02)


# Each family's draws ----------------------------------------------------------


@pytest.mark.parametrize(
    "name, noise, reference",
    [
        ("gaussian", dict(variance=4.0), stats.norm(1.5, 2.0)),
        ("student_t", dict(variance=4.0, df=3.0), stats.t(3.0, 1.5, 2.0)),
    ],
)
def test_draws_follow_the_family(name, noise, reference):
    family = likelihood_family(name)
    rng = np.random.default_rng(0)
    standard = family.standard_noise(rng, (4000,), df=noise.get("df"))
    draws = family.draw(np.full(4000, 1.5, np.float32), standard, variance=noise["variance"])
    assert stats.kstest(draws, reference.cdf).pvalue > 1e-3


def test_bernoulli_draws_are_binary_with_the_decoded_probability():
    family = likelihood_family("bernoulli")
    standard = family.standard_noise(np.random.default_rng(0), (4000,))
    draws = family.draw(np.full(4000, 0.3, np.float32), standard, variance=1.0)
    assert set(np.unique(draws)) == {0.0, 1.0}
    assert draws.mean() == pytest.approx(0.3, abs=0.03)


# The registry -----------------------------------------------------------------


def test_the_registry_names_the_three_families_and_refuses_the_rest():
    assert set(LIKELIHOOD_NAMES) == {"auto", "gaussian", "student_t", "bernoulli"}
    for name in ("gaussian", "student_t", "bernoulli"):
        assert likelihood_family(name).name == name
    with pytest.raises(ValueError, match=r"must be one of \['bernoulli', 'gaussian', 'stud"):
        likelihood_family("poisson")
    with pytest.raises(ValueError, match="taken"):
        register_likelihood(likelihood_family("gaussian"))
    with pytest.raises(ValueError, match="taken"):
        register_likelihood(type("Auto", (Likelihood,), {"name": "auto"})())


def test_what_each_family_declares():
    gaussian, student_t, bernoulli = map(likelihood_family, ("gaussian", "student_t", "bernoulli"))
    assert gaussian.noise_parameters == ("variance",) and gaussian.calibrates_on_batch
    assert student_t.noise_parameters == ("variance", "df") and not student_t.calibrates_on_batch
    assert bernoulli.noise_parameters == () and bernoulli.output_activation == "sigmoid"
    with pytest.raises(NotImplementedError, match="learns its noise"):
        student_t.calibrated_log_prob(np.zeros((1, 2)), np.zeros((1, 2)))


class Laplace(Likelihood):
    """A toy family: ``Laplace(x; x_hat, b)`` with the learned variance slot as ``b^2``.

    It has no closed-form noise for a batch, so ``alpha="auto"`` learns it.
    """

    name = "laplace"

    def log_prob(self, x, x_hat, mask=None, *, variance=None, df=None):
        x = ops.convert_to_tensor(x)
        scale = ops.sqrt(ops.convert_to_tensor(variance, dtype=x.dtype))
        error = ops.abs(x - ops.convert_to_tensor(x_hat, dtype=x.dtype))
        terms = ops.broadcast_to(-math.log(2.0) - ops.log(scale) - error / scale, ops.shape(x))
        if mask is not None:
            terms = terms * ops.convert_to_tensor(mask, dtype=x.dtype)
        return ops.sum(terms, axis=1)

    def standard_noise(self, rng, shape, *, df=None):
        return rng.laplace(size=shape)


@pytest.fixture
def laplace(monkeypatch):
    """The toy family, registered for one test: the registry is restored after it."""
    monkeypatch.setattr(_likelihoods, "_LIKELIHOODS", dict(_likelihoods._LIKELIHOODS))
    return register_likelihood(Laplace())


TINY = dict(hidden_layer_sizes=(8,), epochs=2, batch_size=16, random_state=0)


def _elbo_by_hand(vae, X):
    """One-draw ELBO of each row, its ``log p(x | z)`` from scipy's Laplace density."""
    x = X.astype(np.float32)
    mu, log_var = (v.astype(np.float64) for v in vae._compiled.encode(x))
    eps = row_noise(x, 1, mu.shape[1], vae._inference_seed)[:, 0]
    z = np.asarray(reparameterize(mu, log_var, eps), np.float32)
    x_hat = vae._compiled.decode(z).astype(np.float64)
    log_p = stats.laplace.logpdf(X, x_hat, np.sqrt(vae.decoder_variance_)).sum(axis=1)
    kl = 0.5 * np.sum(mu**2 + np.exp(log_var) - 1 - log_var, axis=1)
    return log_p - kl


def test_a_registered_family_reaches_fit_score_and_the_model_file(laplace, monkeypatch):
    X = np.random.default_rng(0).laplace(size=(64, 4))
    vae = VariationalAutoencoder(likelihood="laplace", n_importance_samples=1, **TINY).fit(X)
    assert vae.likelihood_ == "laplace" and vae._trainer.family is laplace
    # A table on the ELBO learns a scale per feature; Laplace has no df.
    assert vae.decoder_variance_.shape == (4,) and vae.decoder_df_ is None
    assert np.all(np.isfinite(vae.history_["loss"]))
    scores = vae.score_samples(X)
    np.testing.assert_allclose(scores, _elbo_by_hand(vae, X), rtol=1e-4, atol=1e-3)

    file = io.BytesIO()
    skvae.save(vae, file)
    loaded = skvae.load(io.BytesIO(file.getvalue()))
    np.testing.assert_array_equal(loaded.score_samples(X), scores)
    loaded.partial_fit(X)
    assert np.all(np.isfinite(loaded.score_samples(X)))

    # Without the family registered, the file names something unknown.
    monkeypatch.delitem(_likelihoods._LIKELIHOODS, "laplace")
    with pytest.raises(ValueError, match="likelihood"):
        skvae.load(io.BytesIO(file.getvalue()))


def test_a_registered_family_reaches_imputation(laplace):
    X = np.random.default_rng(0).laplace(size=(80, 4))
    X[:, 1] += 2 * X[:, 0]
    X[::3, 1] = np.nan
    imputer = VAEImputer(likelihood="laplace", n_importance_samples=8, **TINY).fit(X)
    observed = ~np.isnan(X)
    mean = imputer.transform(X)
    draws = imputer.set_params(sample_posterior=True).transform(X)
    for completed in (mean, draws):
        assert np.isfinite(completed).all()
        np.testing.assert_array_equal(completed[observed], X[observed])
    assert not np.array_equal(draws, mean)
    assert np.isfinite(imputer.score(X))
    file = io.BytesIO()
    skvae.save(imputer, file)
    loaded = skvae.load(io.BytesIO(file.getvalue()))
    np.testing.assert_array_equal(loaded.set_params(sample_posterior=False).transform(X), mean)


def test_an_unregistered_family_is_not_a_valid_likelihood():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="likelihood"):
        VariationalAutoencoder(likelihood="laplace", **TINY).fit(X)
