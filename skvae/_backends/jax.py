"""The JAX backend: what skvae needs of JAX beyond ``keras.ops``.

The interface is the one :mod:`skvae._backends` documents. Compared with
TensorFlow:

* Training runs on Keras' own Adam; the fused Adam kernel is a TensorFlow
  speed-up.
* XLA on a CPU computes the same bits on every run, so op determinism needs
  no switch; on a GPU it does (``XLA_FLAGS=--xla_gpu_deterministic_ops=true``,
  set before JAX starts), which skvae leaves to the user.
* ``tf.distribute`` strategies do not exist: ``distribute_strategy`` must
  be None.
* Compiled functions are ``jax.jit``-ed. They read the models' variables as
  arguments (a jitted function would otherwise keep the values it was traced
  with), and the rows of a call are padded to a power of two, so that a new
  batch size compiles anew only a few times per model.
* Networks run on blocks of rows of one size inside compiled functions
  (:func:`blockwise`): XLA picks a matrix product's kernel by its shape.
"""

import contextlib

import jax
import keras
import numpy as np

from .._data import IndexedBatches

NAME = "jax"

#: What the ``distribute_strategy`` parameter accepts besides None: anything,
#: so that :func:`check_strategy` can say why it cannot be used.
STRATEGY_TYPES = (object,)

#: The base class of the training model.
TrainerBase = keras.Model


@contextlib.contextmanager
def deterministic_ops(enabled=True):
    """Nothing to switch: XLA's CPU kernels are deterministic (see the module)."""
    yield


def adam(learning_rate):
    """The training optimiser: Keras' Adam."""
    return keras.optimizers.Adam(learning_rate)


def lgamma(x):
    """``log |Gamma(x)|`` elementwise (``keras.ops`` has no log-gamma)."""
    return jax.scipy.special.gammaln(x)


def limit_threads():
    """Nothing to do: XLA sizes its CPU thread pool when JAX starts."""


def allow_gpu_memory_growth():
    """Nothing to do: JAX's GPU memory is set by ``XLA_PYTHON_CLIENT_*`` variables."""


def replicas_in_sync():
    """Replicas that each compute a share of a training step's loss: one."""
    return 1


def check_strategy(strategy):
    """Refuse a ``distribute_strategy``: ``tf.distribute`` is TensorFlow's.

    Raises:
        ValueError: If ``strategy`` is not None.
    """
    if strategy is not None:
        raise ValueError(
            "distribute_strategy needs Keras' TensorFlow backend (it takes a "
            f"tf.distribute strategy); Keras runs on {NAME!r} here. Set "
            "KERAS_BACKEND=tensorflow to train under a strategy, or leave "
            "distribute_strategy=None to train on one device."
        )


def agreed_seeds(seeds, strategy, n_samples):
    check_strategy(strategy)


def fit_inputs(
    X,
    train_rows,
    validation_rows,
    *,
    batch_size,
    sample_shape,
    scale,
    seed,
    min_steps_per_epoch=0,
):
    """Keyword arguments of ``keras.Model.fit``: index-addressed batches of the rows.

    A shuffled training sequence, lengthened to ``min_steps_per_epoch`` steps
    (the rows repeat, each pass in a new order), and an ordered validation
    sequence (or None).
    """
    common = dict(batch_size=batch_size, sample_shape=sample_shape, scale=scale, seed=seed)
    validation = None
    if len(validation_rows) > 0:
        validation = IndexedBatches(X, validation_rows, shuffle=False, **common)
    return {
        "x": IndexedBatches(X, train_rows, steps=min_steps_per_epoch, **common),
        "validation_data": validation,
    }


def compiled(function, input_specs, variables):
    """``function`` jitted, reading ``variables`` (Keras variables) at every call.

    ``input_specs`` are not needed: a call's rows are padded to a power of
    two instead, and every output's first axis trimmed back.
    """
    variables = list(variables)

    @jax.jit
    def pure(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return function(*args)

    def call(*args):
        n_rows = len(args[0])
        n_padded = max(2, 1 << (n_rows - 1).bit_length())
        outputs = pure([variable.value for variable in variables], *_padded(args, n_padded))
        return jax.tree_util.tree_map(lambda output: np.asarray(output)[:n_rows], outputs)

    return call


def chunk_loop(function, chunk_specs, output_specs, variables, parallel_chunks):
    """A compiled ``function`` mapped over a stack of chunks of its inputs (``lax.map``)."""

    def loop(*stacked_chunks):
        return jax.lax.map(lambda chunks: function(*chunks), stacked_chunks)

    return compiled(loop, None, variables)


def blockwise(function, arrays, block_rows):
    """``function(*arrays)``, computed ``block_rows`` rows at a time (``lax.map``).

    The arrays' rows are zero-padded to whole blocks, and the outputs
    concatenated and trimmed back. XLA's CPU compiler picks a matrix
    product's kernel by its shape, and the kernels round differently in the
    last bits (measured with jax 0.10: a 2 x 8 x 64 decoder gave other bits
    at 96 rows or more than at 64, a 6 x 4 x 2 encoder at 4 rows or fewer);
    in blocks of one size, a row's result is the same bits whatever batch
    it came in, as :mod:`skvae._inference` promises.
    """
    arrays = [jax.numpy.asarray(array) for array in arrays]
    n_rows = arrays[0].shape[0]
    n_blocks = max(1, -(-n_rows // block_rows))
    stacked = [
        jax.numpy.pad(
            array, [(0, n_blocks * block_rows - n_rows)] + [(0, 0)] * (array.ndim - 1)
        ).reshape((n_blocks, block_rows, *array.shape[1:]))
        for array in arrays
    ]
    outputs = jax.lax.map(lambda blocks: function(*blocks), stacked)
    return jax.tree_util.tree_map(
        lambda output: output.reshape((-1, *output.shape[2:]))[:n_rows], outputs
    )


def _padded(arrays, n_rows):
    padded = []
    for array in arrays:
        array = np.asarray(array)
        missing = n_rows - len(array)
        if missing > 0:
            array = np.concatenate([array, np.zeros((missing, *array.shape[1:]), array.dtype)])
        padded.append(array)
    return padded
