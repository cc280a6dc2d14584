"""The TensorFlow backend: what skvae needs of TensorFlow beyond ``keras.ops``.

The interface is the one :mod:`skvae._backends` documents; this module also
holds every private TensorFlow and Keras name skvae relies on, since each of
these is either not public API upstream or changes process-wide state. When
an upstream release moves one, ``tests/test_compat.py`` fails on the exact
name, and this is the one file to mend.

* ``deterministic_ops`` switches TensorFlow's op determinism on for one fit
  and back off afterwards through TensorFlow's private ``config`` module.
* ``SingleReplicaAdam`` (:func:`adam`) overrides two private methods of
  Keras' TensorFlow Adam and reads its private moment slots.
* ``MultiWorkerStepLogs`` (:data:`TrainerBase`) works around Keras'
  reduction of step logs under ``MultiWorkerMirroredStrategy``, using the
  strategy's private ``_in_multi_worker_mode``.
* ``limit_threads`` sets TensorFlow's process-wide thread pools, and
  ``allow_gpu_memory_growth`` how it reserves GPU memory.
* ``per_model_function`` sets a private attribute of ``tf.function`` that
  turns its frequent-retracing warning off.
"""

import contextlib
import os

import keras
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

NAME = "tensorflow"

#: What the ``distribute_strategy`` parameter accepts besides None.
STRATEGY_TYPES = (tf.distribute.Strategy,)


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
    """``keras.optimizers.Adam`` for one replica: no all-reduce, one fused op per variable.

    Keras' TensorFlow optimizer sums gradients across replicas with
    ``ReplicaContext.all_reduce`` even under the default (single-replica)
    strategy. Inside the traced train step that call goes through
    ``tf.custom_gradient``, which registers a gradient function in
    TensorFlow's process-wide registry; its closure keeps the whole
    train-step graph alive, about 5 MB per fitted model that no ``del`` or
    ``clear_session`` frees. Summing over a single replica is the identity.

    Keras then writes Adam's update as about fifteen operations per variable,
    all traced into every new model's train step; TensorFlow's
    ``ResourceApplyAdam`` kernel applies the same update in one, which cuts
    the fixed cost of every fit (``benchmarks/README.md``, "Time to a good
    model"); a step runs about as fast as before. The kernel computes
    ``1 - beta_2`` in float32, where 0.999 is 0.99900001, so its steps differ
    from Keras' by about 1e-5 of their size. Under a real ``tf.distribute``
    strategy, with ``amsgrad``, or with variables of mixed dtypes, this is
    Keras' Adam.
    """

    def _all_reduce_sum_gradients(self, grads_and_vars):
        if not tf.distribute.has_strategy():
            return list(grads_and_vars)
        return super()._all_reduce_sum_gradients(grads_and_vars)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        dtypes = {variable.dtype for variable in trainable_variables}
        if tf.distribute.has_strategy() or self.amsgrad or len(dtypes) != 1:
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        (dtype,) = dtypes
        # The step's scalars are the same for every variable: made once.
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        shared = dict(
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
        )
        for gradient, variable in zip(grads, trainable_variables, strict=True):
            index = self._get_variable_index(variable)
            tf.raw_ops.ResourceApplyAdam(
                var=variable.value.handle,
                m=self._momentums[index].value.handle,
                v=self._velocities[index].value.handle,
                grad=tf.cast(gradient, dtype),
                **shared,
            )


class MultiWorkerStepLogs(keras.Model):
    """``keras.Model`` whose step logs survive Keras' multi-worker reduction.

    Keras 3 reduces every train and test step's logs across workers with
    ``strategy.reduce("MEAN", value, axis=0)``, which fails on the scalar
    metrics every model logs ("Invalid reduction dimension 0 for input with
    0 dimensions", tensorflow/tensorflow#72388), so ``fit`` cannot run under
    ``MultiWorkerMirroredStrategy`` at all. In multi-worker mode, and only
    there, the step logs are returned with shape ``(1,)``: the reduction
    takes their mean over the replicas, a scalar again. The values agree on
    every replica (Keras' metrics are mirrored variables, summed across
    replicas), so the mean changes nothing; the epoch logs, which Keras reads
    from the metrics themselves, are scalars as ever.
    """

    def train_step(self, data):
        return _reducible_across_workers(super().train_step(data))

    def test_step(self, data):
        return _reducible_across_workers(super().test_step(data))


def _reducible_across_workers(logs):
    strategy = tf.distribute.get_strategy()
    # The very condition under which Keras' reduce_per_replica takes its
    # multi-worker branch.
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
        strategy.extended._in_multi_worker_mode()
    )
    if not multi_worker:
        return logs
    return {name: tf.reshape(value, (1,)) for name, value in logs.items()}


def limit_threads():
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


def allow_gpu_memory_growth():
    """Let TensorFlow take GPU memory as it needs it, not nearly all of it at once.

    By default the first TensorFlow process to use a GPU reserves almost all
    of its memory, so of two processes sharing the GPU (``GridSearchCV(n_jobs=2)``,
    two dask workers, a notebook that fitted a model before a search) the
    second runs out. skvae calls this before each fit and each time a process
    receives an estimator by pickling, which is how search and dask workers get
    theirs. Memory growth is a setting of the process that TensorFlow accepts
    only before it first uses a GPU, so this is a no-op once it has (or on a
    machine without a GPU), and it leaves the choice to TensorFlow when
    ``TF_FORCE_GPU_ALLOW_GROWTH`` is set: ``false`` keeps the reservation.
    """
    if os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH"):
        return
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):
            # RuntimeError: the GPU is in use already; ValueError: the user
            # split it into virtual devices, which sets its memory itself.
            pass


def per_model_function(**options):
    """``tf.function(**options)`` as a decorator, without the frequent-retracing warning.

    A new model traces new functions: that is the cost of compiling it, not
    a mistake of the caller that TensorFlow's warning could help with. Only
    this warning is turned off, by TensorFlow's own per-function switch;
    other tracing problems still log.
    """

    def decorate(python_function):
        function = tf.function(**options)(python_function)
        # If TensorFlow renames the switch, the warning comes back
        # (tests/test_compat.py and tests/test_logs.py fail); nothing else changes.
        function._omit_frequent_tracing_warning = True
        return function

    return decorate


#: The base class of the training model: Keras' model, with step logs that
#: survive a multi-worker strategy.
TrainerBase = MultiWorkerStepLogs


def adam(learning_rate):
    """The training optimiser: Keras' Adam with TensorFlow's fused update."""
    return SingleReplicaAdam(learning_rate)


def lgamma(x):
    """``log |Gamma(x)|`` elementwise (``keras.ops`` has no log-gamma)."""
    return tf.math.lgamma(x)


def replicas_in_sync():
    """Replicas that each compute a share of a training step's loss."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def check_strategy(strategy):
    """Nothing to check: every ``tf.distribute`` strategy trains here."""


def agreed_seeds(seeds, strategy, n_samples):
    """Worker 0's seeds on every worker of ``strategy`` (``_distribute.agreed_seeds``)."""
    from .._distribute import agreed_seeds

    return agreed_seeds(seeds, strategy, n_samples)


def fit_inputs(X, train_rows, validation_rows, **settings):
    """Keyword arguments of ``keras.Model.fit``: ``tf.data`` pipelines (``_distribute``)."""
    from .._distribute import fit_inputs

    return fit_inputs(X, train_rows, validation_rows, **settings)


def compiled(function, input_specs, variables):
    """``function`` traced once per model for inputs of ``input_specs``.

    ``input_specs``: ``(shape, dtype)`` of each argument, None for a
    dimension of any size (no retracing for new batch sizes).
    ``variables``: the Keras variables ``function`` reads; a ``tf.function``
    reads them at every call by itself.
    """
    return per_model_function(input_signature=_tensor_specs(input_specs))(function)


def chunk_loop(function, chunk_specs, output_specs, variables, parallel_chunks):
    """A compiled ``function`` mapped over a stack of chunks of its inputs.

    Its inputs have the shapes of ``chunk_specs`` with a leading axis of
    chunks; ``output_specs`` are the shapes of one chunk's outputs (a spec or
    a list of specs); ``parallel_chunks`` chunks run at once.
    """
    stacked_specs = [((None, *shape), dtype) for shape, dtype in chunk_specs]
    outputs = (
        _tensor_specs(output_specs)
        if isinstance(output_specs, list)
        else _tensor_specs([output_specs])[0]
    )

    @per_model_function(input_signature=_tensor_specs(stacked_specs))
    def loop(*stacked_chunks):
        return tf.map_fn(
            lambda chunks: function(*chunks),
            stacked_chunks,
            parallel_iterations=parallel_chunks,
            fn_output_signature=outputs,
        )

    return loop


def blockwise(function, arrays, block_rows):
    """``function(*arrays)``, at once.

    What TensorFlow's kernels need, ``_inference`` does itself: a lone row
    is padded to two, and decoded draws to whole blocks of ``block_rows``.
    """
    return function(*arrays)


def _tensor_specs(specs):
    return [tf.TensorSpec(shape, dtype) for shape, dtype in specs]
