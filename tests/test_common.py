"""scikit-learn's own estimator checks, run on a small, fast configuration."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skvae import VariationalAutoencoder


def _fast_estimators():
    fast = dict(latent_dim=2, hidden_layer_sizes=(8,), epochs=2, batch_size=16, random_state=0)
    # The calibrated objective trains a different graph; the checks' data are
    # not in [0, 1], so the Bernoulli decoder is checked in test_likelihood.
    return [VariationalAutoencoder(**fast), VariationalAutoencoder(alpha="auto", **fast)]


@parametrize_with_checks(_fast_estimators())
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
