"""skvae: a convolutional variational autoencoder as a scikit-learn estimator."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # static tools see the real names; run time loads them lazily
    from ._estimator import VariationalAutoencoder
    from ._imputer import VAEImputer
    from ._model_file import load, save

from ._logs import SkvaeWarning

__version__ = "0.1.0"

__all__ = ["SkvaeWarning", "VAEImputer", "VariationalAutoencoder", "__version__", "load", "save"]

# Name -> private module that defines it.
_LAZY = {
    "VariationalAutoencoder": "_estimator",
    "VAEImputer": "_imputer",
    "save": "_model_file",
    "load": "_model_file",
}


def __getattr__(name):
    # TensorFlow takes seconds to import and logs to stderr; loading it on
    # first use keeps `skvae.datasets` and the command line's argument and
    # file checks fast and quiet.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
