"""``score_samples``: per-row latent draws and the log-likelihood bound.

The decoder's log-likelihood of each draw is computed in the compiled graph
(float32, see ``CompiledVAE.log_likelihood``); everything after it is float64
NumPy, whatever the backend (JAX computes in float32 unless told otherwise,
process-wide): the bounds of ``_losses`` restated in NumPy, which
``tests/test_scoring.py`` holds against those.
"""

import math

import numpy as np
from scipy.special import logsumexp

from ._inference import INFERENCE_BATCH_SIZE
from ._likelihoods import mean_squared_error, observed_fraction, optimal_decoder_variance
from ._losses import LOG_2PI, decoder_variance, observed_entries
from ._seeding import row_noise


def learned_noise(noise):
    """The variance and degrees of freedom (Student's t) a ``NoiseModel`` learned.

    Each is a float for one shared value, an array of one value per feature
    (flattened), or None: ``(None, None)`` when nothing was learned.
    """
    if noise is None:
        return None, None
    df = noise.df()
    return _flat(noise.variance()), None if df is None else _flat(df)


def _flat(value):
    value = np.asarray(value, dtype=np.float64)
    return float(value) if value.ndim == 0 else value.reshape(-1)


def resolve_decoder_variance(setting, *, alpha, compiled, X, layout, rows, seed):
    """The decoder variance ``score_samples`` will use, fixed at fit.

    ``setting`` is the estimator's ``decoder_variance``: ``"fitted"`` gives
    :func:`fitted_decoder_variance` over ``X[rows]``, ``"alpha"`` the variance
    that a numeric ``alpha`` implies, a number itself. A family without a
    variance (Bernoulli) gets None.
    """
    if not layout.family.has_variance:
        return None
    if setting == "fitted":
        return fitted_decoder_variance(compiled, X, layout, rows, seed)
    if setting == "alpha":
        return decoder_variance(alpha, layout.n_features)
    return float(setting)


def fitted_decoder_variance(compiled, X, layout, rows, seed):
    """The variance that maximises the ELBO of ``X[rows]`` for the fitted networks.

    The mean over the rows, at one posterior draw each (seeded as in
    ``_seeding.row_noise``), of ``||x - x_hat(z)||^2 / D``: the closed-form
    maximiser of ``sum log N(x; x_hat(z), sigma^2 I)`` over ``sigma^2``
    (Rybkin et al., 2021), floored to stay finite. With missing (NaN)
    entries the mean runs over the observed entries only.
    """
    squared_errors, fractions = [], []
    for x in layout.batches(X, rows=rows):
        mu, log_var = compiled.encode(x)
        eps = row_noise(x, 1, mu.shape[1], seed)[:, 0]
        z = reparameterized(mu, log_var, eps).astype(np.float32)
        x_hat = compiled.decode(z)
        mask = None
        if layout.missing_entries is not None:
            x, mask = (np.asarray(v) for v in observed_entries(x))
            fractions.append(np.asarray(observed_fraction(mask), dtype=np.float64))
        errors = mean_squared_error(x, x_hat, mask)
        squared_errors.append(np.asarray(errors, dtype=np.float64))
    return float(
        optimal_decoder_variance(
            np.concatenate(squared_errors), np.concatenate(fractions) if fractions else None
        )
    )


def score_samples(compiled, X, layout, *, n_draws, seed):
    """Lower bound on ``log p(x)`` in nats for each row of 2-D ``X`` (float64).

    ``n_draws = 1`` gives the ELBO with the KL term in closed form; more give
    the importance-weighted bound. The draws of a row depend only on
    ``seed`` and the row's values (see ``_seeding.row_noise``). Missing (NaN)
    entries are left out: the bound is then one on ``log p(x_obs)``.
    """
    # At most INFERENCE_BATCH_SIZE latent draws per batch bound the float64
    # draws held at once; one row per batch beyond that.
    batch_size = max(1, INFERENCE_BATCH_SIZE // n_draws)
    bounds = [_bound(compiled, x, n_draws, seed) for x in layout.batches(X, batch_size=batch_size)]
    bound = np.concatenate(bounds) if bounds else np.empty(0)
    # A density over X = scale * x is the density over x divided by scale^D.
    return bound - layout.n_features * math.log(layout.input_scale)


def _bound(compiled, x, n_draws, seed):
    mu, log_var = (v.astype(np.float64) for v in compiled.encode(x))
    eps = row_noise(x, n_draws, mu.shape[1], seed)
    z = reparameterized(mu[:, None, :], log_var[:, None, :], eps)
    log_likelihood = compiled.log_likelihood(x, z.astype(np.float32)).astype(np.float64)
    if n_draws == 1:
        return evidence_lower_bound(log_likelihood[:, 0], mu, log_var)
    return importance_weighted_bound(log_importance_weights(log_likelihood, z, mu, log_var))


def reparameterized(mu, log_var, eps):
    """``mu + exp(log_var / 2) * eps`` (``_losses.reparameterize``), in NumPy."""
    return mu + np.exp(0.5 * log_var) * eps


def evidence_lower_bound(log_likelihood, mu, log_var):
    """``log p(x | z) - KL(q(z | x) || p(z))`` per row (``_losses``), in NumPy."""
    kl = -0.5 * np.sum(1.0 + log_var - np.square(mu) - np.exp(log_var), axis=-1)
    return log_likelihood - kl


def log_importance_weights(log_likelihood, z, mu, log_var):
    """``log p(x | z) + log p(z) - log q(z | x)`` per row and draw (``_losses``), in NumPy."""
    mu, log_var = mu[:, None, :], log_var[:, None, :]
    log_prior = -0.5 * np.sum(LOG_2PI + np.square(z), axis=-1)
    log_posterior = -0.5 * np.sum(
        LOG_2PI + log_var + np.square(z - mu) * np.exp(-log_var), axis=-1
    )
    return log_likelihood + log_prior - log_posterior


def importance_weighted_bound(log_weights):
    """``log (1/k) sum_i w_i`` over the last axis (``_losses``), in NumPy."""
    return logsumexp(log_weights, axis=-1) - math.log(log_weights.shape[-1])
