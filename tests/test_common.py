"""scikit-learn's own estimator checks, run on a small, fast configuration."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skvae import VAEImputer, VariationalAutoencoder


def _fast_estimators():
    fast = dict(latent_dim=2, hidden_layer_sizes=(8,), epochs=2, batch_size=16, random_state=0)
    # Most of a check's time is tracing the graphs of each fit; a held-out
    # split traces a second one. The default VAE keeps its split, so the
    # checks' odd shapes (one sample, one feature) meet it; the others train
    # on every row.
    every_row = dict(fast, validation_fraction=0.0)
    # The default objective is alpha="auto"; the original objective (a
    # numeric alpha) trains a different graph and scores differently. The
    # checks' data are not in [0, 1], so the Bernoulli decoder is checked in
    # test_likelihood. The imputer's allow_nan tag has the checks feed it NaN
    # as well.
    return [
        VariationalAutoencoder(**fast),
        VariationalAutoencoder(alpha=1.0, **every_row),
        VAEImputer(n_importance_samples=4, **every_row),
    ]


@parametrize_with_checks(_fast_estimators())
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
