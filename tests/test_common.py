"""scikit-learn's own estimator checks, run on a small, fast configuration."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skvae import VAEImputer, VariationalAutoencoder


def _fast_estimators():
    fast = dict(latent_dim=2, hidden_layer_sizes=(8,), epochs=2, batch_size=16, random_state=0)
    # The calibrated objective trains a different graph; the checks' data are
    # not in [0, 1], so the Bernoulli decoder is checked in test_likelihood.
    # The imputer's allow_nan tag has the checks feed it NaN as well.
    return [
        VariationalAutoencoder(**fast),
        VariationalAutoencoder(alpha="auto", **fast),
        VAEImputer(n_importance_samples=4, **fast),
    ]


@parametrize_with_checks(_fast_estimators())
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
