"""``VAEImputer.transform``: importance-weighted imputation of missing entries.

For a row with observed entries ``x_obs``, ``k`` draws ``z_i ~ q(z | x_obs)``
(the encoder reads missing entries as 0) get the weights
``w_i = p(x_obs | z_i) p(z_i) / q(z_i | x_obs)``; the imputation is the
self-normalised mean ``sum_i w_i x_hat(z_i) / sum_i w_i`` of the decoder's
means, an estimate of ``E[x_miss | x_obs]`` that is consistent as ``k``
grows however poor ``q`` is (Mattei and Frellsen, 2019). With
``sample_posterior`` one draw is resampled by the weights and the decoder's
noise added (``Likelihood.draw`` of the fitted family): one draw from the
model's ``p(x_miss | x_obs)``. The graph work is ``CompiledVAE.impute``; the
formulas are those of ``_losses`` and ``_likelihoods``.
"""

import numpy as np

from ._inference import POINTS_PER_IMPUTATION_CALL
from ._seeding import row_generators


def impute(compiled, X, layout, *, n_draws, sample_posterior, seed):
    """``X`` (2-D, NaN where missing) with every NaN replaced; other entries untouched.

    Rows without a missing entry are not computed at all. The draws of a row
    depend only on ``seed`` and the row's own values (as in ``score_samples``),
    so a row's imputation does not depend on the other rows.
    """
    completed = X.copy()
    incomplete = np.flatnonzero(np.isnan(X).any(axis=1))
    rows_per_call = max(1, POINTS_PER_IMPUTATION_CALL // n_draws)
    for start in range(0, len(incomplete), rows_per_call):
        rows = incomplete[start : start + rows_per_call]
        (x,) = layout.batches(X, batch_size=len(rows), rows=rows)
        values = _imputed_batch(compiled, x, n_draws, sample_posterior, seed)
        values = (values * layout.input_scale).reshape(len(rows), -1)
        missing = np.isnan(completed[rows])
        completed[rows] = np.where(missing, values, completed[rows])
    return completed


def _imputed_batch(compiled, x, n_draws, sample_posterior, seed):
    eps = np.empty((len(x), n_draws, compiled.latent_dim), dtype=np.float32)
    u = np.empty(len(x), dtype=np.float32)
    noise = np.empty(x.shape, dtype=np.float32)
    for i, rng in enumerate(row_generators(x, seed)):
        eps[i] = rng.standard_normal(eps.shape[1:])
        u[i] = rng.random()
        if sample_posterior:
            noise[i] = compiled.standard_noise(rng, x.shape[1:])
    mean, drawn = compiled.impute(x, eps, u)
    if not sample_posterior:
        return mean
    return compiled.draw(drawn, noise)
