"""Scoped determinism for TensorFlow, restored on exit."""

import contextlib

from tensorflow.python.framework import config as tf_config


@contextlib.contextmanager
def deterministic_ops(enabled=True):
    """Enable TensorFlow op determinism inside the block, then restore it.

    ``tf.config.experimental.enable_op_determinism`` has no public inverse,
    so the previous state is read and restored through TensorFlow's own
    ``config`` module; a fit with a fixed seed must not leave the user's
    session slower or differently configured.
    """
    was_enabled = tf_config.is_op_determinism_enabled()
    if enabled and not was_enabled:
        tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if enabled and not was_enabled:
            tf_config.disable_op_determinism()
