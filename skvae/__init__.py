"""skvae: a convolutional variational autoencoder as a scikit-learn estimator."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # static tools see the real classes; run time loads them lazily
    from ._estimator import VariationalAutoencoder
    from ._imputer import VAEImputer

__version__ = "0.1.0"

__all__ = ["VAEImputer", "VariationalAutoencoder", "__version__"]


def __getattr__(name):
    # TensorFlow takes seconds to import and logs to stderr; loading it on
    # first use keeps `skvae.datasets` and the command line's argument and
    # file checks fast and quiet.
    if name == "VariationalAutoencoder":
        from ._estimator import VariationalAutoencoder

        return VariationalAutoencoder
    if name == "VAEImputer":
        from ._imputer import VAEImputer

        return VAEImputer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), "VAEImputer", "VariationalAutoencoder"])
