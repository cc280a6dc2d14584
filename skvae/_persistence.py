"""Pickling: Keras models as in-memory ``.keras`` archives.

A Keras model holds TensorFlow resources that ``pickle`` cannot copy, so the
estimator's ``__getstate__`` replaces each fitted model by the bytes of its
``.keras`` archive and ``__setstate__`` loads them back. Nothing in Keras is
patched: only our own estimator's state changes form.
"""

import os
import tempfile

import keras

from ._backends import backend
from ._fitted_state import NETWORK_ATTRIBUTES, TRANSIENT_ATTRIBUTES


def picklable_state(state):
    """A copy of an estimator's ``__dict__`` with models as ``.keras`` bytes."""
    state = {name: value for name, value in state.items() if name not in TRANSIENT_ATTRIBUTES}
    # A tf.distribute strategy holds devices and threads; it is a training
    # setting of this process, not part of the model.
    state["distribute_strategy"] = None
    for name in NETWORK_ATTRIBUTES:
        if name in state:
            state[name] = _model_to_bytes(state[name])
    return state


def unpickled_state(state):
    """The inverse of :func:`picklable_state`, models loaded from their bytes."""
    # Search and dask workers get their estimators this way, before their
    # first use of a GPU.
    backend.allow_gpu_memory_growth()
    return {
        name: _model_from_bytes(value) if name in NETWORK_ATTRIBUTES else value
        for name, value in state.items()
    }


def _model_to_bytes(model):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        model.save(path)
        with open(path, "rb") as file:
            return file.read()


def _model_from_bytes(data):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        with open(path, "wb") as file:
            file.write(data)
        return keras.saving.load_model(path, compile=False)
