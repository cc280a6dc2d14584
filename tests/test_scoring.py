"""``_scoring``'s NumPy bounds are those of ``_losses``, to float64 precision.

``score_samples`` computes the bounds after the compiled graph in float64
NumPy, whatever the backend; ``_losses`` holds the same formulas in
``keras.ops`` for training, computed here in float64 as well
(``float64_ops``), so the two must agree to float64 rounding.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skvae import _losses, _scoring

# Draws, latent points and log-likelihoods of the sizes scoring sees.
shapes = st.tuples(st.integers(1, 6), st.integers(1, 8), st.integers(1, 5))


@st.composite
def bound_inputs(draw):
    """``(log_likelihood (n, k), z (n, k, L), mu (n, L), log_var (n, L))``, float64."""
    n, k, latent_dim = draw(shapes)

    def arrays(shape, low, high):
        return draw(hnp.arrays(np.float64, shape, elements=st.floats(low, high)))

    return (
        arrays((n, k), -200.0, 0.0),
        arrays((n, k, latent_dim), -5.0, 5.0),
        arrays((n, latent_dim), -5.0, 5.0),
        arrays((n, latent_dim), -6.0, 2.0),
    )


FLOAT64 = dict(rtol=1e-12, atol=1e-10)


@settings(deadline=None)
@given(bound_inputs())
def test_the_numpy_bounds_are_those_of_losses(float64_ops, inputs):
    log_likelihood, z, mu, log_var = inputs
    eps = z  # any numbers serve as noise
    with float64_ops():
        reference = {
            "z": _losses.reparameterize(mu[:, None], log_var[:, None], eps),
            "elbo": _losses.evidence_lower_bound(log_likelihood[:, 0], mu, log_var),
            "weights": _losses.log_importance_weights(log_likelihood, z, mu, log_var),
        }
        reference = {name: np.asarray(value) for name, value in reference.items()}
        reference["iwae"] = np.asarray(_losses.importance_weighted_bound(reference["weights"]))
    assert all(value.dtype == np.float64 for value in reference.values())

    weights = _scoring.log_importance_weights(log_likelihood, z, mu, log_var)
    np.testing.assert_allclose(
        _scoring.reparameterized(mu[:, None], log_var[:, None], eps), reference["z"], **FLOAT64
    )
    np.testing.assert_allclose(
        _scoring.evidence_lower_bound(log_likelihood[:, 0], mu, log_var),
        reference["elbo"],
        **FLOAT64,
    )
    np.testing.assert_allclose(weights, reference["weights"], **FLOAT64)
    np.testing.assert_allclose(
        _scoring.importance_weighted_bound(weights), reference["iwae"], **FLOAT64
    )
