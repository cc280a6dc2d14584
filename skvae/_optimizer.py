"""Adam without the one-replica all-reduce that leaks a graph per model.

Keras' TensorFlow optimizer sums gradients across replicas with
``ReplicaContext.all_reduce`` even under the default (single-replica)
strategy. Inside the traced train step that call goes through
``tf.custom_gradient``, which registers a gradient function in TensorFlow's
process-wide registry; its closure keeps the whole train-step graph alive,
about 5 MB per fitted model that no ``del`` or ``clear_session`` frees.
"""

import keras
import tensorflow as tf


class SingleReplicaAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` that skips the all-reduce when there is one replica.

    Summing over a single replica is the identity, so updates are unchanged;
    under a real ``tf.distribute`` strategy it behaves exactly like Adam.
    """

    def _all_reduce_sum_gradients(self, grads_and_vars):
        if not tf.distribute.has_strategy():
            return list(grads_and_vars)
        return super()._all_reduce_sum_gradients(grads_and_vars)
