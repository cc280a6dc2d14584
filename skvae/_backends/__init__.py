"""What skvae needs of Keras' backend beyond ``keras.ops``, one module per backend.

Code above this package calls ``keras.ops`` and, where ``keras.ops`` has no
answer, the one backend module that :data:`backend` names; it never asks
which backend runs. Keras picks the backend (``KERAS_BACKEND``, or
``~/.keras/keras.json``); TensorFlow is the default. The TensorFlow module
is imported only on TensorFlow, the JAX module only on JAX.

Every backend module provides:

* ``NAME``: Keras' name of the backend.
* ``STRATEGY_TYPES``: what ``distribute_strategy`` accepts besides None, and
  ``check_strategy(strategy)``, which refuses what this backend cannot run;
  ``agreed_seeds(seeds, strategy, n_samples)`` under a strategy.
* ``TrainerBase``: the ``keras.Model`` subclass the training model extends;
  ``adam(learning_rate)``: its optimiser; ``replicas_in_sync()``: replicas
  that share a step's loss.
* ``fit_inputs(X, train_rows, validation_rows, *, batch_size, sample_shape,
  scale, seed, min_steps_per_epoch)``: the data arguments of
  ``keras.Model.fit``.
* ``deterministic_ops(enabled)``: a context of deterministic kernels;
  ``limit_threads()`` and ``allow_gpu_memory_growth()``: process settings.
* ``lgamma(x)``: the log-gamma function, which ``keras.ops`` lacks.
* ``compiled(function, input_specs, variables)`` and ``chunk_loop(function,
  chunk_specs, output_specs, variables, parallel_chunks)``: a ``keras.ops``
  function compiled once per model (see :mod:`skvae._inference`);
  ``blockwise(function, arrays, block_rows)``: inside one, a network's
  ``function(*arrays)``, in blocks of ``block_rows`` rows where the backend's
  kernels would otherwise round a row differently by the batch's size.
"""

import importlib

import keras

__all__ = ["SUPPORTED", "backend"]

#: Keras backends skvae runs on.
SUPPORTED = ("tensorflow", "jax")


def _load(name):
    if name not in SUPPORTED:
        raise ImportError(
            f"skvae runs on Keras' {' and '.join(SUPPORTED)} backends, not on {name!r}; "
            "set KERAS_BACKEND to one of them."
        )
    return importlib.import_module(f"{__name__}.{name}")


#: The module of the backend Keras runs on.
backend = _load(keras.backend.backend())
