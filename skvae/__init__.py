"""skvae: a convolutional variational autoencoder as a scikit-learn estimator."""

from ._estimator import VariationalAutoencoder

__version__ = "0.1.0"

__all__ = ["VariationalAutoencoder", "__version__"]
