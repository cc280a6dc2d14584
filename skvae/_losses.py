"""Pure loss and log-density functions of the variational autoencoder.

Every function here is written with ``keras.ops``, takes plain arrays
(NumPy arrays or backend tensors) and needs no model, so each formula can be
tested on its own. Functions that return one value per sample keep the
batch axis; reducing over the batch is left to the caller. The decoder's
distributions ``p(x | z)`` and their log-densities are the likelihood
families of ``_likelihoods``; the objectives here take a family by its
registered name.

The link between the training loss and a log-likelihood
--------------------------------------------------------
With a Gaussian decoder ``p(x | z) = N(x; x_hat(z), sigma^2 I)`` over
``D`` features,

    -log p(x | z) = D/2 * log(2 pi sigma^2) + D * mse(x, x_hat) / (2 sigma^2).

Choosing ``sigma^2 = D / (2 alpha)`` turns the second term into exactly
``alpha * mse``, so the training loss ``alpha * mse + KL`` is the negative
evidence lower bound (ELBO) minus the constant ``D/2 * log(pi D / alpha)``.
:func:`decoder_variance` gives that ``sigma^2``. For fixed reconstructions
the ELBO is largest at ``sigma^2 = mean mse`` (:func:`optimal_decoder_variance`):
the fitted decoder variance and the ``alpha="auto"`` objective
(:func:`calibrated_loss`) use it. A Bernoulli decoder replaces the mean
squared error by the mean binary cross-entropy (:func:`bernoulli_log_likelihood`).

The importance-weighted bound
-----------------------------
For draws ``z_1 .. z_k ~ q(z | x)`` the log weights
``log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x)`` (built from
:func:`gaussian_log_likelihood`, :func:`standard_normal_log_density` and
:func:`diagonal_normal_log_density` in :func:`log_importance_weights`) give
:func:`importance_weighted_bound`, ``log (1/k) sum_i w_i``, whose
expectation is a lower bound on ``log p(x)`` that does not decrease with
``k`` and equals the ELBO's expectation at ``k = 1`` (Burda et al., 2016).
When ``q(z | x)`` is the exact posterior every ``w_i`` equals ``p(x)``, so the
estimate is exact for any ``k``; the tests check this on a linear-Gaussian
model whose ``log p(x)`` is known in closed form.
"""

import math

from keras import ops

# The likelihood families' formulas live with the families; the tests (and
# this module's docstring) still reach them here.
from ._likelihoods import (  # noqa: F401
    BERNOULLI_EPSILON,
    LOG_2PI,
    MIN_DECODER_VARIANCE,
    bernoulli_log_likelihood,
    gaussian_log_likelihood,
    likelihood_family,
    observed_fraction,
    optimal_decoder_variance,
    student_t_log_likelihood,
)

#: Range to which the encoder clips ``log_var`` (see ``skvae._model``). Inside
#: it ``exp(log_var)`` and ``exp(log_var / 2)`` are finite in float32 and the
#: closed-form KL cannot overflow for any finite ``mu`` below ~1e19.
LOG_VAR_RANGE = (-30.0, 20.0)


def reconstruction_loss(x, x_hat, likelihood="gaussian", mask=None):
    """Reconstruction error averaged over every non-batch axis, one value per sample.

    The registered family's ``Likelihood.reconstruction_error``:
    ``"gaussian"``: the mean squared error ``mean_j (x_ij - x_hat_ij)^2``;
    ``"bernoulli"``: the mean binary cross-entropy
    ``-mean_j (x_ij log x_hat_ij + (1 - x_ij) log(1 - x_hat_ij))``, where
    ``j`` runs over all pixels and channels (axes 1, 2, 3 of an image batch,
    axis 1 of a table).

    Args:
        x: Data, shape ``(batch, ...)``; in [0, 1] for ``"bernoulli"``.
        x_hat: Reconstruction (for ``"bernoulli"``, probabilities), same
            shape as ``x``.
        likelihood: A registered likelihood's name.
        mask: 1 where ``x`` is observed and 0 where it is missing (see
            :func:`observed_entries`), same shape as ``x``; None when every
            entry is observed. Missing entries add nothing, but the sum is
            still divided by all ``D`` features, so a feature weighs the same
            whatever else is missing (``alpha * reconstruction`` stays
            ``-log p(x_obs | z)`` up to a constant).

    Returns:
        Tensor of shape ``(batch,)``.
    """
    return likelihood_family(likelihood).reconstruction_error(x, x_hat, mask)


def observed_entries(x):
    """``x`` with its missing (NaN) entries set to 0, and the mask of observed entries.

    Args:
        x: Data with NaN where a value is missing, shape ``(batch, ...)``.

    Returns:
        ``(x_filled, mask)``: both of the shape and dtype of ``x``, the mask
        1 where ``x`` is observed and 0 where it is missing.
    """
    x = ops.convert_to_tensor(x)
    observed = ops.logical_not(ops.isnan(x))
    return ops.where(observed, x, ops.zeros_like(x)), ops.cast(observed, x.dtype)


def reparameterize(mu, log_var, eps):
    """The reparameterised draw ``z = mu + exp(log_var / 2) * eps`` from ``N(mu, exp(log_var))``.

    Training (``_model.Sampling``), scoring and imputation all draw their
    latent points through this function.

    Args:
        mu: Posterior means, shape ``(..., latent_dim)``.
        log_var: Posterior log-variances, broadcastable against ``mu``.
        eps: ``N(0, I)`` noise, broadcastable against ``mu`` (for ``k``
            draws per sample: ``mu[:, None, :]`` and ``eps`` of shape
            ``(batch, k, latent_dim)``).

    Returns:
        Tensor of the broadcast shape.
    """
    eps = ops.convert_to_tensor(eps)
    mu = ops.convert_to_tensor(mu, dtype=eps.dtype)
    log_var = ops.convert_to_tensor(log_var, dtype=eps.dtype)
    return mu + ops.exp(0.5 * log_var) * eps


def kl_loss(mu, log_var):
    """Closed-form ``KL(N(mu, exp(log_var)) || N(0, I))``, one value per sample.

    ``KL_i = -1/2 * sum_k (1 + log_var_ik - mu_ik^2 - exp(log_var_ik))``.

    Args:
        mu: Posterior means, shape ``(batch, latent_dim)``.
        log_var: Posterior log-variances, same shape, expected inside
            :data:`LOG_VAR_RANGE`.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    mu = ops.convert_to_tensor(mu)
    log_var = ops.convert_to_tensor(log_var, dtype=mu.dtype)
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)


def combined_loss(x, x_hat, mu, log_var, alpha, likelihood="gaussian", mask=None):
    """The per-sample training objective ``alpha * reconstruction + KL``.

    The training loss for a numeric ``alpha`` is the batch mean of this value.

    Args:
        x: Data, shape ``(batch, ...)``.
        x_hat: Reconstruction, same shape as ``x``.
        mu: Posterior means, shape ``(batch, latent_dim)``.
        log_var: Posterior log-variances, same shape as ``mu``.
        alpha: Non-negative weight of the reconstruction term.
        likelihood: A registered likelihood's name: which
            :func:`reconstruction_loss`.
        mask: Observed entries of ``x`` (see :func:`reconstruction_loss`).

    Returns:
        Tensor of shape ``(batch,)``.
    """
    return alpha * reconstruction_loss(x, x_hat, likelihood, mask) + kl_loss(mu, log_var)


def calibrated_loss(x, x_hat, mu, log_var, likelihood="gaussian", mask=None):
    """The per-sample negative ELBO with the decoder calibrated on the batch.

    The ``alpha="auto"`` objective (Rybkin et al., 2021, "sigma-VAE").
    ``"gaussian"``: ``-log N(x; x_hat, sigma^2 I) + KL`` with ``sigma^2`` the
    batch's :func:`optimal_decoder_variance`, which maximises the batch's
    ELBO over ``sigma^2``; its batch mean is
    ``D/2 * (log(2 pi sigma^2) + 1) + mean KL``. ``"bernoulli"`` has no noise
    level to fit: ``-log Bernoulli(x; x_hat) + KL``, which is
    :func:`combined_loss` at ``alpha = D``. Each is the family's
    ``Likelihood.calibrated_log_prob``.

    Args:
        x: Data, shape ``(batch, ...)``.
        x_hat: Decoder means (probabilities for ``"bernoulli"``).
        mu: Posterior means, shape ``(batch, latent_dim)``.
        log_var: Posterior log-variances, same shape as ``mu``.
        likelihood: The name of a registered likelihood that calibrates
            its noise on the batch (``"gaussian"`` or ``"bernoulli"``).
        mask: Observed entries of ``x``; the likelihood and the variance
            are then those of the observed entries only.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    family = likelihood_family(likelihood)
    return kl_loss(mu, log_var) - family.calibrated_log_prob(x, x_hat, mask)


def decoder_variance(alpha, n_features):
    """Variance ``sigma^2 = n_features / (2 alpha)`` of the implied Gaussian decoder."""
    return n_features / (2.0 * alpha)


def standard_normal_log_density(z):
    """``log N(z; 0, I)`` summed over the last axis."""
    z = ops.convert_to_tensor(z)
    return -0.5 * ops.sum(LOG_2PI + ops.square(z), axis=-1)


def diagonal_normal_log_density(z, mu, log_var):
    """``log N(z; mu, diag(exp(log_var)))`` summed over the last axis."""
    z = ops.convert_to_tensor(z)
    mu = ops.convert_to_tensor(mu, dtype=z.dtype)
    log_var = ops.convert_to_tensor(log_var, dtype=z.dtype)
    return -0.5 * ops.sum(LOG_2PI + log_var + ops.square(z - mu) * ops.exp(-log_var), axis=-1)


def evidence_lower_bound(log_likelihood, mu, log_var):
    """Per-sample ELBO in nats: ``log p(x | z) - KL(q(z | x) || p(z))``.

    With ``log_likelihood = gaussian_log_likelihood(x, x_hat(z), sigma^2)``
    and ``sigma^2 = decoder_variance(alpha, D)`` this equals
    ``-combined_loss(...) - D/2 * log(pi D / alpha)``.

    Args:
        log_likelihood: ``log p(x | z)`` at one ``z`` drawn from ``q(z | x)``,
            shape ``(batch,)``.
        mu: Posterior means, shape ``(batch, latent_dim)``.
        log_var: Posterior log-variances, same shape as ``mu``.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    return ops.convert_to_tensor(log_likelihood) - kl_loss(mu, log_var)


def log_importance_weights(log_likelihood, z, mu, log_var):
    """``log w = log p(x | z) + log p(z) - log q(z | x)`` per sample and draw.

    Args:
        log_likelihood: ``log p(x | z_i)``, shape ``(batch, k)``.
        z: The draws ``z_i ~ q(z | x)``, shape ``(batch, k, latent_dim)``.
        mu: Posterior means, shape ``(batch, latent_dim)``.
        log_var: Posterior log-variances, same shape as ``mu``.

    Returns:
        Tensor of shape ``(batch, k)``.
    """
    z = ops.convert_to_tensor(z)
    mu = ops.expand_dims(ops.convert_to_tensor(mu, dtype=z.dtype), 1)
    log_var = ops.expand_dims(ops.convert_to_tensor(log_var, dtype=z.dtype), 1)
    return (
        ops.convert_to_tensor(log_likelihood, dtype=z.dtype)
        + standard_normal_log_density(z)
        - diagonal_normal_log_density(z, mu, log_var)
    )


def importance_weighted_bound(log_weights):
    """``log (1/k) sum_i w_i`` over the last axis of ``log_weights`` (IWAE bound)."""
    log_weights = ops.convert_to_tensor(log_weights)
    return ops.logsumexp(log_weights, axis=-1) - math.log(log_weights.shape[-1])


def importance_weighted_loss(log_likelihood, z, mu, log_var):
    """Per-sample training loss on ``k`` draws: minus the importance-weighted bound.

    ``-log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x)``, the objective of the
    IWAE (Burda et al., 2016) and, with ``log p(x_obs | z_i)``, of MIWAE
    (Mattei and Frellsen, 2019). Training with ``k = 1`` uses the ELBO with
    the KL term in closed form instead, whose expectation this equals.

    Args:
        log_likelihood: ``log p(x | z_i)``, shape ``(batch, k)``.
        z: The draws ``z_i ~ q(z | x)``, shape ``(batch, k, latent_dim)``.
        mu: Posterior means, shape ``(batch, latent_dim)``.
        log_var: Posterior log-variances, same shape as ``mu``.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    return -importance_weighted_bound(log_importance_weights(log_likelihood, z, mu, log_var))


def importance_weighted_mean(log_weights, values):
    """Self-normalised importance-sampling mean ``sum_i w_i v_i / sum_i w_i``.

    With ``w_i = p(x_obs | z_i) p(z_i) / q(z_i | x_obs)`` and ``v_i`` the
    decoder's mean at ``z_i``, this estimates ``E[x | x_obs]``, the
    imputation of Mattei and Frellsen (2019, "MIWAE").

    Args:
        log_weights: ``log w_i``, shape ``(batch, k)``.
        values: ``v_i``, shape ``(batch, k, ...)``.

    Returns:
        Tensor of shape ``(batch, ...)``.
    """
    values = ops.convert_to_tensor(values)
    log_weights = ops.convert_to_tensor(log_weights, dtype=values.dtype)
    weights = ops.exp(log_weights - ops.logsumexp(log_weights, axis=-1, keepdims=True))
    for _ in range(len(values.shape) - 2):
        weights = ops.expand_dims(weights, -1)
    return ops.sum(weights * values, axis=1)


def resampled_index(log_weights, u):
    """Sampling importance resampling: the draw that ``u ~ U(0, 1)`` picks by weight.

    The index of the first draw whose cumulative normalised weight
    ``sum_{j <= i} w_j / sum_j w_j`` reaches ``u``; draw ``i`` is picked
    with probability ``w_i / sum_j w_j``, so the picked ``z_i`` is (as
    ``k`` grows) a draw from the model's posterior, and its decoded ``x``
    one from the model's ``p(x_miss | x_obs)``.

    Args:
        log_weights: ``log w_i``, shape ``(batch, k)``.
        u: One uniform number per sample, shape ``(batch,)``.

    Returns:
        Integer tensor of shape ``(batch,)``, each index in ``[0, k)``.
    """
    log_weights = ops.convert_to_tensor(log_weights)
    u = ops.convert_to_tensor(u, dtype=log_weights.dtype)
    cumulative = ops.cumsum(ops.softmax(log_weights, axis=-1), axis=-1)
    chosen = ops.sum(ops.cast(cumulative < u[:, None], "int32"), axis=-1)
    return ops.minimum(chosen, ops.shape(log_weights)[-1] - 1)
