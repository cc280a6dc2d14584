"""The decoder's distribution families ``p(x | z)``: one class each, and their registry.

A family holds what the package needs to know about one likelihood: its
log-probability (written with ``keras.ops``, so training, scoring and
imputation run the same formula), the reconstruction error that a numeric
``alpha`` weighs, the noise it can fit to a batch in closed form, which
noise parameters it learns and their floors, the decoder's output
activation it needs, how to draw from it and which data it accepts. The
decoder's output ``x_hat`` is the family's mean, which reconstruction and
imputation use.

The rest of the package looks a family up by its registered name
(:func:`likelihood_family`) and asks it, as scikit-learn's estimators look
their losses up in ``sklearn/_loss/loss.py``'s ``_LOSSES``: adding a
family is one :class:`Likelihood` subclass and one :func:`register_likelihood`.
The estimators' ``likelihood`` parameter and the model file name a family
by its :attr:`Likelihood.name`.

The formulas are module functions that take arrays and return one value
per sample (a test reaches each without a family); each family's methods
call its own.

:class:`Categorical`, :class:`Ordinal`, :class:`Poisson` and
:class:`Standardized` model columns of a mixed table, and
:class:`MixedLikelihood` sums a table's families over its columns
(``_columns`` builds it); they are not registered, since no whole array
follows them.
"""

import collections.abc
import math

import numpy as np
from keras import ops
from scipy import stats

from ._backends import backend
from ._validation import check_unit_interval

LOG_2PI = math.log(2.0 * math.pi)


def _non_batch_axes(x):
    return tuple(range(1, len(x.shape)))


def _n_features(x):
    return math.prod(x.shape[1:])


def _masked_sum(terms, mask):
    """Per-sample sum of ``terms`` over the entries ``mask`` marks observed (all if None)."""
    if mask is not None:
        terms = terms * ops.convert_to_tensor(mask, dtype=terms.dtype)
    return ops.sum(terms, axis=_non_batch_axes(terms))


def observed_fraction(mask):
    """Fraction of each sample's entries that are observed, shape ``(batch,)``."""
    mask = ops.convert_to_tensor(mask)
    return ops.mean(mask, axis=_non_batch_axes(mask))


def mean_squared_error(x, x_hat, mask=None):
    """``mean_j (x_ij - x_hat_ij)^2`` over every non-batch axis, one value per sample.

    Args:
        x: Data, shape ``(batch, ...)``.
        x_hat: Reconstruction, same shape as ``x``.
        mask: 1 where ``x`` is observed and 0 where it is missing, or None.
            Missing entries add nothing, but the sum is still divided by all
            ``D`` features, so a feature weighs the same whatever else is
            missing (``alpha`` times this stays ``-log p(x_obs | z)`` up to
            a constant).

    Returns:
        Tensor of shape ``(batch,)``.
    """
    x = ops.convert_to_tensor(x)
    squared_error = ops.square(x - ops.convert_to_tensor(x_hat, dtype=x.dtype))
    if mask is not None:
        squared_error = squared_error * ops.convert_to_tensor(mask, dtype=x.dtype)
    return ops.mean(squared_error, axis=_non_batch_axes(x))


#: Smallest decoder variance :func:`optimal_decoder_variance` returns: a
#: standard deviation of 1e-3, a thousandth of the [0, 1] range, so a model
#: that reconstructs its training data exactly still gets a finite likelihood.
MIN_DECODER_VARIANCE = 1e-6


def optimal_decoder_variance(squared_errors, observed_fractions=None):
    """The shared Gaussian variance that maximises the ELBO: the mean squared error.

    For fixed reconstructions, ``sum_i log N(x_i; x_hat_i, sigma^2 I)`` is
    largest at ``sigma^2 = mean_i ||x_i - x_hat_i||^2 / D``, the mean of the
    per-sample :func:`mean_squared_error` values; it is floored at
    :data:`MIN_DECODER_VARIANCE`. With missing entries the sums run over
    the observed entries only, so the mean is taken over them:
    ``mean_i(error_i) / mean_i(observed_fraction_i)``.

    Args:
        squared_errors: Per-sample :func:`mean_squared_error` values (masked
            ones when entries are missing), shape ``(batch,)``.
        observed_fractions: Per-sample :func:`observed_fraction`, or None
            when every entry is observed.

    Returns:
        Scalar tensor.
    """
    variance = ops.mean(ops.convert_to_tensor(squared_errors))
    if observed_fractions is not None:
        # A batch with no observed entry has no error to fit: the floor applies.
        fraction = ops.mean(ops.convert_to_tensor(observed_fractions, dtype=variance.dtype))
        variance = variance / ops.maximum(fraction, MIN_DECODER_VARIANCE)
    return ops.maximum(variance, MIN_DECODER_VARIANCE)


def gaussian_log_likelihood(x, x_hat, variance, mask=None):
    """``log N(x; x_hat, variance * I)`` summed over every non-batch axis.

    ``-D/2 * log(2 pi variance) - sum_j (x_j - x_hat_j)^2 / (2 variance)``,
    with every normalising constant included. With a ``mask`` the density
    is that of the observed entries, ``log p(x_obs | z)``: ``D`` and the
    sum count observed entries only.

    Args:
        x: Data, shape ``(batch, ...)``.
        x_hat: Decoder means, same shape as ``x``.
        variance: Positive variance: a scalar shared by every feature, or
            one per feature (the shape of one sample, broadcast over the batch).
        mask: 1 for observed entries of ``x``, 0 for missing ones, or None.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    x = ops.convert_to_tensor(x)
    variance = ops.convert_to_tensor(variance, dtype=x.dtype)
    squared_error = ops.square(x - ops.convert_to_tensor(x_hat, dtype=x.dtype))
    if len(variance.shape) > 0:
        terms = LOG_2PI + ops.log(variance) + squared_error / variance
        return -0.5 * _masked_sum(terms, mask)
    if mask is None:
        n_observed = _n_features(x)
    else:
        mask = ops.convert_to_tensor(mask, dtype=x.dtype)
        squared_error = squared_error * mask
        n_observed = ops.sum(mask, axis=_non_batch_axes(x))
    squared_error = ops.sum(squared_error, axis=_non_batch_axes(x))
    return -0.5 * (n_observed * (LOG_2PI + ops.log(variance)) + squared_error / variance)


def student_t_log_likelihood(x, x_hat, variance, df, mask=None):
    """``log St(x; x_hat, scale^2 = variance, df)`` summed over every non-batch axis.

    Per entry ``lgamma((df + 1)/2) - lgamma(df/2) - log(pi df variance)/2
    - (df + 1)/2 * log(1 + (x - x_hat)^2 / (df variance))``: Student's t
    with ``df`` degrees of freedom and squared scale ``variance``, whose
    heavy tails keep a few outlying entries from dominating the fit. As
    ``df`` grows it tends to :func:`gaussian_log_likelihood`.

    Args:
        x: Data, shape ``(batch, ...)``.
        x_hat: Decoder locations, same shape as ``x``.
        variance: Positive squared scale, a scalar or one per feature.
        df: Positive degrees of freedom, a scalar or one per feature.
        mask: 1 for observed entries of ``x``, 0 for missing ones, or None.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    x = ops.convert_to_tensor(x)
    variance = ops.convert_to_tensor(variance, dtype=x.dtype)
    df = ops.convert_to_tensor(df, dtype=x.dtype)
    squared_error = ops.square(x - ops.convert_to_tensor(x_hat, dtype=x.dtype))
    # keras.ops has no log-gamma; the backend's serves the normalising constant.
    terms = (
        backend.lgamma((df + 1.0) / 2.0)
        - backend.lgamma(df / 2.0)
        - 0.5 * ops.log(math.pi * df * variance)
        - (df + 1.0) / 2.0 * ops.log1p(squared_error / (df * variance))
    )
    return _masked_sum(ops.broadcast_to(terms, ops.shape(x)), mask)


#: Probabilities are clipped to ``[BERNOULLI_EPSILON, 1 - BERNOULLI_EPSILON]``
#: (Keras' own epsilon), so a saturated sigmoid costs at most ~16 nats per
#: feature instead of an infinite log-likelihood.
BERNOULLI_EPSILON = 1e-7


def bernoulli_log_likelihood(x, probabilities, mask=None):
    """``sum_j x_j log p_j + (1 - x_j) log(1 - p_j)`` over every non-batch axis.

    A log-probability when ``x`` is binary; for ``x`` in between it is the
    cross-entropy that the Bernoulli VAE trains on, not a density.

    Args:
        x: Data in [0, 1], shape ``(batch, ...)``.
        probabilities: Decoder probabilities ``p``, same shape as ``x``.
        mask: 1 for observed entries of ``x``, 0 for missing ones, or None;
            the sum then runs over the observed entries only.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    x = ops.convert_to_tensor(x)
    p = ops.clip(
        ops.convert_to_tensor(probabilities, dtype=x.dtype),
        BERNOULLI_EPSILON,
        1.0 - BERNOULLI_EPSILON,
    )
    log_p = x * ops.log(p) + (1.0 - x) * ops.log(1.0 - p)
    if mask is not None:
        log_p = log_p * ops.convert_to_tensor(mask, dtype=x.dtype)
    return ops.sum(log_p, axis=_non_batch_axes(x))


# ----------------------------------------------------------------- families


class Likelihood:
    """A family of decoder distributions ``p(x | z)`` around the decoder's output ``x_hat``.

    A subclass sets the class attributes below and implements
    :meth:`log_prob` and :meth:`standard_noise`. The other methods' defaults
    suit a location-scale family whose location is ``x_hat`` and whose
    squared scale is the decoder variance, one shared or one per feature.
    Families hold no state: the fitted noise is the estimator's, passed in.

    Attributes:
        name: The registered name: the estimators' ``likelihood`` value and
            what the model file keeps.
        output_activation: The decoder's output activation the family needs
            (``"sigmoid"`` for probabilities), or None to leave it to the
            estimators' ``output_activation``.
        has_variance: Whether the decoder has a variance (squared scale):
            fitted, learned or given by ``decoder_variance``, and learnable
            one per feature (``noise_scale="feature"``).
        min_df: Smallest degrees of freedom of a family that learns them
            (a floor that keeps its variance finite), or None for one that
            has none.
        initial_df: The degrees of freedom a fresh fit starts from.
        calibrates_on_batch: Whether :meth:`calibrated_log_prob` fits the
            noise to each batch in closed form; ``alpha="auto"`` then needs
            no learned noise. A family that cannot must learn its noise.
    """

    name = None
    output_activation = None
    has_variance = True
    min_df = None
    initial_df = None
    calibrates_on_batch = False

    @property
    def noise_parameters(self):
        """The fitted noise the family is scored with: ``"variance"``, ``"df"``, both or neither.

        The estimator keeps each as ``decoder_<name>_``, the model file as
        ``decoder_<name>``.
        """
        names = ("variance",) if self.has_variance else ()
        return (*names, "df") if self.min_df is not None else names

    def log_prob(self, x, x_hat, mask=None, *, variance=None, df=None):
        """``log p(x | z)`` summed over every non-batch axis, one value per sample.

        Args:
            x: Data, shape ``(batch, ...)``.
            x_hat: The decoder's output, same shape as ``x``.
            mask: 1 for observed entries of ``x``, 0 for missing ones, or
                None; with one, ``log p(x_obs | z)``.
            variance: The fitted or learned variance (squared scale), a
                scalar or one per feature; None for a family without one.
            df: The degrees of freedom (a scalar or one per feature), for a
                family that has them.

        Returns:
            Tensor of shape ``(batch,)``.
        """
        raise NotImplementedError

    def reconstruction_error(self, x, x_hat, mask=None):
        """The error a numeric ``alpha`` weighs, and ``history_`` reports: the mean squared error.

        ``alpha`` times it is ``-log p(x | z)`` up to a constant for the
        Gaussian (Bernoulli has its cross-entropy instead); a family that
        learns its noise trains on :meth:`log_prob` and only reports this.
        """
        return mean_squared_error(x, x_hat, mask)

    def calibrated_log_prob(self, x, x_hat, mask=None):
        """``log p(x | z)`` per sample with the noise fitted to the batch (``alpha="auto"``).

        Only for a family that :attr:`calibrates_on_batch`.
        """
        raise NotImplementedError(
            f"likelihood={self.name!r} learns its noise; it has no noise fitted to a batch."
        )

    def mean(self, x_hat):
        """The distribution's mean at the decoder's raw output ``x_hat``: what decoding returns.

        The decoder's output activation already made ``x_hat`` the mean for
        the families above; a family whose output needs its own activation
        (the categorical's softmax) applies it here.
        """
        return x_hat

    def check_data(self, X, name):
        """Raise ValueError if ``X`` (called ``name`` in the message) is outside the support.

        The default accepts any real values.
        """

    def with_categorical_weight(self, weight):
        """The training objective's terms: categorical columns' log-probabilities times ``weight``.

        ``weight`` is a number or a scalar variable. Only a mixed table has
        categorical columns (:class:`MixedLikelihood`); any other family is
        its own objective.
        """
        return self

    def standard_noise(self, rng, shape, *, df=None):
        """Noise of one sample's draw with location 0 and scale 1, from the NumPy ``rng``.

        :meth:`draw` turns it into a draw from ``p(x | z)``; the imputer
        draws it from each row's own generator (see ``_seeding``).
        """
        raise NotImplementedError

    def draw(self, location, noise, *, variance):
        """A draw from ``p(x | z)`` at the decoder's outputs ``location``.

        Args:
            location: The decoder's outputs, a NumPy array.
            noise: :meth:`standard_noise` of the shape of ``location``.
            variance: The decoder variance, ignored by a family without one.
        """
        return location + np.sqrt(variance) * noise


class Gaussian(Likelihood):
    """``N(x; x_hat, variance)``: the squared error, with its noise fitted in closed form."""

    name = "gaussian"
    calibrates_on_batch = True

    def log_prob(self, x, x_hat, mask=None, *, variance=None, df=None):
        return gaussian_log_likelihood(x, x_hat, variance, mask)

    def calibrated_log_prob(self, x, x_hat, mask=None):
        """At the batch's :func:`optimal_decoder_variance` (Rybkin et al., 2021, "sigma-VAE")."""
        x = ops.convert_to_tensor(x)
        variance = optimal_decoder_variance(
            mean_squared_error(x, x_hat, mask),
            None if mask is None else observed_fraction(mask),
        )
        return gaussian_log_likelihood(x, x_hat, variance, mask)

    def standard_noise(self, rng, shape, *, df=None):
        return rng.standard_normal(shape)


class StudentT(Likelihood):
    """Student's t around ``x_hat``: heavy tails, learned squared scale and degrees of freedom.

    Its degrees of freedom have no closed-form optimum, so it always learns
    its noise (``alpha="auto"``).
    """

    name = "student_t"
    #: Above 2 degrees of freedom the variance is finite.
    min_df = 2.0
    initial_df = 10.0

    def log_prob(self, x, x_hat, mask=None, *, variance=None, df=None):
        return student_t_log_likelihood(x, x_hat, variance, df, mask)

    def standard_noise(self, rng, shape, *, df=None):
        return rng.standard_t(np.broadcast_to(df, shape))


class Bernoulli(Likelihood):
    """``Bernoulli(x; x_hat)`` per entry: the decoder outputs probabilities, data lie in [0, 1]."""

    name = "bernoulli"
    output_activation = "sigmoid"
    has_variance = False
    # No noise to fit: the calibrated objective is the log-probability itself.
    calibrates_on_batch = True

    def log_prob(self, x, x_hat, mask=None, *, variance=None, df=None):
        return bernoulli_log_likelihood(x, x_hat, mask)

    def reconstruction_error(self, x, x_hat, mask=None):
        """The mean binary cross-entropy, ``-log p(x | z) / D``."""
        x = ops.convert_to_tensor(x)
        return -bernoulli_log_likelihood(x, x_hat, mask) / _n_features(x)

    def calibrated_log_prob(self, x, x_hat, mask=None):
        return bernoulli_log_likelihood(x, x_hat, mask)

    def check_data(self, X, name):
        check_unit_interval(X, name)

    def standard_noise(self, rng, shape, *, df=None):
        # Uniform numbers: an entry is 1 where its number falls below the probability.
        return rng.random(shape)

    def draw(self, location, noise, *, variance):
        return (noise < location).astype(np.float32)


def categorical_log_likelihood(one_hot, logits, mask=None):
    """``sum_j x_j log softmax(logits)_j`` per sample: the log-probability of one category.

    Args:
        one_hot: The observed category as a one-hot row, shape ``(batch, k)``
            (all zeros where the column is missing).
        logits: The decoder's unnormalised log-probabilities, shape ``(batch, k)``.
        mask: 1 where the column is observed and 0 where it is missing (the
            same for its ``k`` entries), or None.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    one_hot = ops.convert_to_tensor(one_hot)
    # log_softmax, not log(softmax): no underflow to -inf at large logits.
    log_p = ops.log_softmax(ops.convert_to_tensor(logits, dtype=one_hot.dtype), axis=-1)
    return _masked_sum(one_hot * log_p, mask)


class Categorical(Likelihood):
    """One categorical column: ``k`` decoder outputs are the logits of its ``k`` categories.

    The data are the observed category one-hot; :meth:`mean` is the
    softmax's probabilities, the mode their argmax. It has no noise to learn.
    Not registered: it models one column of a mixed table (see
    :class:`MixedLikelihood`), never a whole array.
    """

    name = "categorical"
    has_variance = False
    calibrates_on_batch = True

    def log_prob(self, x, x_hat, mask=None, *, variance=None, df=None):
        return categorical_log_likelihood(x, x_hat, mask)

    def reconstruction_error(self, x, x_hat, mask=None):
        """The cross-entropy, ``-log p(x | z)``, of the column."""
        return -categorical_log_likelihood(x, x_hat, mask)

    def calibrated_log_prob(self, x, x_hat, mask=None):
        return categorical_log_likelihood(x, x_hat, mask)

    def mean(self, x_hat):
        return ops.softmax(ops.convert_to_tensor(x_hat), axis=-1)

    def standard_noise(self, rng, shape, *, df=None):
        # One uniform number per row, repeated over the k entries: the draw's inverse CDF.
        return np.broadcast_to(rng.random((*shape[:-1], 1)), shape)

    def draw(self, location, noise, *, variance):
        """The category whose cumulative probability first exceeds the row's uniform number."""
        cumulative = np.cumsum(location, axis=-1)
        chosen = np.minimum((cumulative < noise).sum(axis=-1), location.shape[-1] - 1)
        return np.eye(location.shape[-1], dtype=np.float32)[chosen]


class Ordinal(Categorical):
    """An ordered column of ``k`` categories: cumulative logits from ``k`` decoder outputs.

    The outputs are a location ``eta`` and ``k - 1`` ordered thresholds
    (the first, then softplus steps up from it), and
    ``P(x <= j) = sigmoid(theta_j - eta)``: each category's probability is
    the difference of two neighbouring cumulative ones, floored at
    :data:`BERNOULLI_EPSILON` so its logarithm stays finite. The data, the
    mean (probabilities), mode and draws are as for :class:`Categorical`.
    """

    name = "ordinal"

    def mean(self, x_hat):
        x_hat = ops.convert_to_tensor(x_hat)
        eta, first = x_hat[:, :1], x_hat[:, 1:2]
        thresholds = ops.concatenate(
            [first, first + ops.cumsum(ops.softplus(x_hat[:, 2:]), axis=-1)], axis=-1
        )
        cumulative = ops.sigmoid(thresholds - eta)
        zeros, ones = ops.zeros_like(eta), ops.ones_like(eta)
        cumulative = ops.concatenate([zeros, cumulative, ones], axis=-1)
        return ops.maximum(cumulative[:, 1:] - cumulative[:, :-1], BERNOULLI_EPSILON)

    def log_prob(self, x, x_hat, mask=None, *, variance=None, df=None):
        x = ops.convert_to_tensor(x)
        log_p = ops.log(ops.convert_to_tensor(self.mean(x_hat), dtype=x.dtype))
        return _masked_sum(x * log_p, mask)

    def reconstruction_error(self, x, x_hat, mask=None):
        """The cross-entropy, ``-log p(x | z)``, of the column."""
        return -self.log_prob(x, x_hat, mask)

    def calibrated_log_prob(self, x, x_hat, mask=None):
        return self.log_prob(x, x_hat, mask)


#: Added to the softplus of a count column's output: the smallest Poisson
#: rate, so that ``log(rate)`` stays finite where the softplus underflows.
MIN_POISSON_RATE = 1e-6


def poisson_log_likelihood(x, rate, mask=None):
    """``sum_j x_j log rate_j - rate_j - log(x_j!)`` per sample: the Poisson log-mass.

    Args:
        x: Counts (non-negative integers), shape ``(batch, ...)``.
        rate: Positive rates, same shape as ``x``.
        mask: 1 for observed entries of ``x``, 0 for missing ones, or None.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    x = ops.convert_to_tensor(x)
    rate = ops.convert_to_tensor(rate, dtype=x.dtype)
    terms = x * ops.log(rate) - rate - backend.lgamma(x + 1.0)
    return _masked_sum(terms, mask)


class Poisson(Likelihood):
    """Count columns: the decoder's output, through a softplus, is each count's Poisson rate.

    A family without a variance: the rate is both mean and variance. Not
    registered: it models the count columns of a mixed table.
    """

    name = "poisson"
    has_variance = False
    calibrates_on_batch = True

    def log_prob(self, x, x_hat, mask=None, *, variance=None, df=None):
        return poisson_log_likelihood(x, self.mean(x_hat), mask)

    def reconstruction_error(self, x, x_hat, mask=None):
        """The mean negative log-mass per count."""
        x = ops.convert_to_tensor(x)
        return -poisson_log_likelihood(x, self.mean(x_hat), mask) / _n_features(x)

    def calibrated_log_prob(self, x, x_hat, mask=None):
        return self.log_prob(x, x_hat, mask)

    def mean(self, x_hat):
        """The rate, ``softplus(x_hat)`` plus :data:`MIN_POISSON_RATE`."""
        return ops.softplus(ops.convert_to_tensor(x_hat)) + MIN_POISSON_RATE

    def standard_noise(self, rng, shape, *, df=None):
        # Uniform numbers, turned into counts by the Poisson quantile function.
        return rng.random(shape)

    def draw(self, location, noise, *, variance):
        return stats.poisson.ppf(noise, location).astype(np.float32)


class Standardized(Likelihood):
    """A mixed table's real or positive columns: the family ``base`` on standardized values.

    The network reads and outputs ``u = (t(x) - location) / scale`` per
    column, with ``t`` the identity for real columns and ``log`` for positive
    ones (``log=True``), and ``location`` and ``scale`` the column's mean and
    standard deviation of ``t(x)`` at fit: columns in grams and in
    millimetres then weigh alike in the network and its noise. The density
    over ``x`` adds the Jacobian, ``-log scale`` per observed entry and, on
    the log scale, ``-log x``, so that scores stay densities of the data in
    its own units. With a Gaussian ``base`` a positive column is
    log-normal, with Student's t log-t; its decoded value ``exp(t^-1)`` of
    the location is the distribution's median. Not registered: it models
    columns of a mixed table, with the noise of their features.

    Args:
        base: The family of ``u`` (one with a location ``x_hat``).
        location, scale: Per-column arrays (``scale > 0``).
        log: Whether ``t`` is ``log`` (positive columns).
    """

    def __init__(self, base, location, scale, *, log=False):
        self.base = base
        self.location = np.asarray(location, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)
        self.log = log
        self.name = f"log_{base.name}" if log else base.name
        self.has_variance = base.has_variance
        self.min_df = base.min_df
        self.initial_df = base.initial_df
        self.calibrates_on_batch = base.calibrates_on_batch

    def _log_jacobian(self, u, mask):
        """``sum log |du/dx|`` over the observed entries of each sample."""
        u = ops.convert_to_tensor(u)
        scale = ops.convert_to_tensor(self.scale, dtype=u.dtype)
        terms = -ops.log(scale) * ops.ones_like(u)
        if self.log:
            terms = terms - (u * scale + ops.convert_to_tensor(self.location, dtype=u.dtype))
        return _masked_sum(terms, mask)

    def log_prob(self, x, x_hat, mask=None, *, variance=None, df=None):
        base = self.base.log_prob(x, x_hat, mask, variance=variance, df=df)
        return base + self._log_jacobian(x, mask)

    def reconstruction_error(self, x, x_hat, mask=None):
        """The base family's error on the standardized values."""
        return self.base.reconstruction_error(x, x_hat, mask)

    def calibrated_log_prob(self, x, x_hat, mask=None):
        return self.base.calibrated_log_prob(x, x_hat, mask) + self._log_jacobian(x, mask)

    def standard_noise(self, rng, shape, *, df=None):
        return self.base.standard_noise(rng, shape, df=df)

    def draw(self, location, noise, *, variance):
        """A draw of the standardized value (decoding takes it back to ``x``)."""
        return self.base.draw(location, noise, variance=variance)


class MixedLikelihood(Likelihood):
    """A table whose columns follow different families: ``log p(x | z)`` is the sum over them.

    The network's features are laid out as consecutive parts, one
    ``(start, stop, family)`` each (see ``_columns``): the real columns
    first, under one family (Student's t or Gaussian) whose noise is that of
    their features, then the positive columns (that family on ``log x``),
    the count columns (Poisson), and one part per categorical (or ordinal) column. The
    learned noise has one entry per network feature, as for a numeric
    table; only the real columns' entries are used.

    Args:
        parts: ``(start, stop, family)`` triples that tile the features.
        categorical_weight: Factor on each categorical (and ordinal)
            column's term: 1 for the table's likelihood, another value for
            a training objective (see :meth:`with_categorical_weight`).
    """

    name = "mixed"

    def __init__(self, parts, categorical_weight=1.0):
        self.parts = tuple(parts)
        self.categorical_weight = categorical_weight
        with_noise = [family for _, _, family in self.parts if family.noise_parameters]
        # The real columns' family, if any, owns every noise parameter.
        self._noisy = with_noise[0] if with_noise else None
        self.has_variance = self._noisy is not None and self._noisy.has_variance
        self.min_df = None if self._noisy is None else self._noisy.min_df
        self.initial_df = None if self._noisy is None else self._noisy.initial_df
        # Noise fitted to a batch would be the real columns' alone; a mixed
        # table with real columns learns it instead, which keeps one path.
        self.calibrates_on_batch = self._noisy is None

    def with_categorical_weight(self, weight):
        """This table's terms with each categorical (and ordinal) column's times ``weight``."""
        return MixedLikelihood(self.parts, categorical_weight=weight)

    def _weighted(self, family, term):
        """``term`` of ``family``'s part, times the categorical weight for a categorical part."""
        # Times 1 is exact: the unweighted likelihood's terms keep their bits.
        return self.categorical_weight * term if isinstance(family, Categorical) else term

    def _terms(self, method, x, x_hat, mask, **noise):
        total = 0.0
        for start, stop, family in self.parts:
            part_noise = {
                name: _feature_slice(value, start, stop) for name, value in noise.items()
            }
            term = getattr(family, method)(
                x[:, start:stop],
                x_hat[:, start:stop],
                None if mask is None else mask[:, start:stop],
                **part_noise,
            )
            total = total + self._weighted(family, term)
        return total

    def log_prob(self, x, x_hat, mask=None, *, variance=None, df=None):
        return self._terms("log_prob", x, x_hat, mask, variance=variance, df=df)

    def calibrated_log_prob(self, x, x_hat, mask=None):
        if not self.calibrates_on_batch:
            return super().calibrated_log_prob(x, x_hat, mask)
        return self._terms("calibrated_log_prob", x, x_hat, mask)

    def reconstruction_error(self, x, x_hat, mask=None):
        """The mean over columns of each one's error: squared error or cross-entropy."""
        total, n_columns = 0.0, 0
        for start, stop, family in self.parts:
            # Poisson's error is per count, as the real family's is per column.
            width = 1 if isinstance(family, Categorical) else stop - start
            error = family.reconstruction_error(
                x[:, start:stop],
                x_hat[:, start:stop],
                None if mask is None else mask[:, start:stop],
            )
            total, n_columns = total + width * self._weighted(family, error), n_columns + width
        return total / n_columns

    def mean(self, x_hat):
        return ops.concatenate(
            [family.mean(x_hat[:, start:stop]) for start, stop, family in self.parts], axis=-1
        )

    def standard_noise(self, rng, shape, *, df=None):
        return np.concatenate(
            [
                family.standard_noise(
                    rng, (*shape[:-1], stop - start), df=_feature_slice(df, start, stop)
                )
                for start, stop, family in self.parts
            ],
            axis=-1,
        )

    def draw(self, location, noise, *, variance):
        return np.concatenate(
            [
                family.draw(
                    location[..., start:stop],
                    noise[..., start:stop],
                    variance=_feature_slice(variance, start, stop),
                )
                for start, stop, family in self.parts
            ],
            axis=-1,
        )


def _feature_slice(value, start, stop):
    """Features ``start:stop`` of a per-feature noise parameter; a shared one (or None) as is."""
    if value is None or len(np.shape(value)) == 0:
        return value
    return value[start:stop]


# ----------------------------------------------------------------- registry

_LIKELIHOODS = {}


def register_likelihood(family):
    """Make the :class:`Likelihood` instance ``family`` available by its name.

    Its name then passes the estimators' ``likelihood`` constraint and the
    model file's checks.

    Raises:
        ValueError: If the name is taken (or is ``"auto"``).
    """
    name = family.name
    if not isinstance(name, str) or name == "auto" or name in _LIKELIHOODS:
        raise ValueError(f"likelihood name {name!r} is taken or not a string.")
    _LIKELIHOODS[name] = family
    return family


register_likelihood(Gaussian())
register_likelihood(StudentT())
register_likelihood(Bernoulli())


def likelihood_family(name):
    """The registered :class:`Likelihood` called ``name``.

    Raises:
        ValueError: If no family is registered under ``name``.
    """
    try:
        return _LIKELIHOODS[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name from a hostile file
        raise ValueError(
            f"likelihood must be one of {sorted(_LIKELIHOODS)}, got {name!r}."
        ) from None


def as_family(likelihood):
    """``likelihood`` if it is a :class:`Likelihood`, else the family registered under it."""
    return likelihood if isinstance(likelihood, Likelihood) else likelihood_family(likelihood)


class _LikelihoodNames(collections.abc.Set):
    """``"auto"`` and the registered names, read when asked, for a parameter constraint.

    A live view rather than a set made at import, so that a family
    registered later is a valid ``likelihood`` at once.
    """

    def __contains__(self, name):
        return name == "auto" or (isinstance(name, str) and name in _LIKELIHOODS)

    def __iter__(self):
        return iter(("auto", *_LIKELIHOODS))

    def __len__(self):
        return 1 + len(_LIKELIHOODS)

    @classmethod
    def _from_iterable(cls, iterable):
        # What set operations on the view return (scikit-learn's StrOptions
        # subtracts it from its deprecated options): a plain set.
        return set(iterable)


#: The values the estimators' ``likelihood`` parameter takes.
LIKELIHOOD_NAMES = _LikelihoodNames()
