"""Every private TensorFlow, Keras and scikit-learn name skvae relies on.

Each of these is either not public API upstream or changes process-wide
state, so they live together: when an upstream release moves one,
``tests/test_compat.py`` fails on the exact name, and this is the one file to
mend.

* ``fit_context`` and the parameter-constraint classes come from
  scikit-learn's private ``_param_validation`` machinery, which every
  scikit-learn estimator uses and which ``check_estimator`` expects.
* ``deterministic_ops`` switches TensorFlow's op determinism on for one fit
  and back off afterwards through TensorFlow's private ``config`` module.
* ``SingleReplicaAdam`` overrides a private method of Keras' TensorFlow Adam.
* ``limit_tensorflow_threads`` sets TensorFlow's process-wide thread pools.
"""

import contextlib
import os

import keras
import tensorflow as tf
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from tensorflow.python.framework import config as tf_config

__all__ = [
    "Interval",
    "SingleReplicaAdam",
    "StrOptions",
    "deterministic_ops",
    "fit_context",
    "limit_tensorflow_threads",
]

fit_context = _fit_context


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


class SingleReplicaAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` that skips the all-reduce when there is one replica.

    Keras' TensorFlow optimizer sums gradients across replicas with
    ``ReplicaContext.all_reduce`` even under the default (single-replica)
    strategy. Inside the traced train step that call goes through
    ``tf.custom_gradient``, which registers a gradient function in
    TensorFlow's process-wide registry; its closure keeps the whole
    train-step graph alive, about 5 MB per fitted model that no ``del`` or
    ``clear_session`` frees. Summing over a single replica is the identity,
    so updates are unchanged; under a real ``tf.distribute`` strategy it
    behaves exactly like Adam.
    """

    def _all_reduce_sum_gradients(self, grads_and_vars):
        if not tf.distribute.has_strategy():
            return list(grads_and_vars)
        return super()._all_reduce_sum_gradients(grads_and_vars)


def limit_tensorflow_threads():
    """Give TensorFlow the thread budget that a parallel caller has set.

    joblib's loky workers and dask workers set ``OMP_NUM_THREADS`` to their
    share of the cores, but TensorFlow sizes its pools from the core count,
    so ``GridSearchCV(n_jobs=2)`` on 2 cores would run 2 x 2 busy threads.
    TensorFlow accepts the setting only before its runtime starts, so in a
    process that already ran TensorFlow this is a no-op.
    """
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if not threads.isdigit() or int(threads) < 1:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))
    except RuntimeError:
        pass  # the runtime is already initialised; its pools cannot change
