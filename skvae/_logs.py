"""What skvae lets reach the user's logs: its own warning category, no retracing noise.

Every skvae estimator builds its own networks and so its own compiled
functions (Keras' training step, :mod:`skvae._inference`'s functions), by
design. TensorFlow's detector of "frequent retracing" counts the traces of
all functions made from the same Python code, so after a few fits in one
process (a grid search, say) it logged warnings about that intended
tracing that no user could act on. Inference functions turn the warning off
themselves (``_backends.tensorflow.per_model_function``); during a fit,
:func:`retracing_warnings_silenced` drops exactly that message from
TensorFlow's logger, and nothing else it logs.
"""

import contextlib
import logging

__all__ = ["SkvaeWarning"]

#: The message of TensorFlow's frequent-retracing warning.
RETRACING_MESSAGE = "triggered tf.function retracing"


class SkvaeWarning(UserWarning):
    """The category of the warnings that skvae itself issues.

    A subclass of ``UserWarning``, so that ``warnings.filterwarnings`` can
    silence or raise skvae's warnings and nobody else's.

    Examples
    --------
    >>> import warnings
    >>> import skvae
    >>> warnings.filterwarnings("ignore", category=skvae.SkvaeWarning)
    >>> warnings.resetwarnings()
    """


class _DropRetracingWarnings(logging.Filter):
    def filter(self, record):
        return RETRACING_MESSAGE not in record.getMessage()


@contextlib.contextmanager
def retracing_warnings_silenced():
    """Drop TensorFlow's frequent-retracing warnings while the block runs."""
    logger = logging.getLogger("tensorflow")
    dropping = _DropRetracingWarnings()
    logger.addFilter(dropping)
    try:
        yield
    finally:
        logger.removeFilter(dropping)
