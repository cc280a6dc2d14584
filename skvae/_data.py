"""Feeding arrays to the model: shuffled training batches and inference chunks.

Batches are gathered and converted to float32 one at a time, so fitting on a
large array (or ``numpy.memmap``) never holds a float32 copy of all of it.
"""

import math

import numpy as np
import tensorflow as tf


def as_model_batch(rows, sample_shape, scale=1.0):
    """Rows of a 2-D array as a float32 batch ``rows / scale`` of shape ``(n, *sample_shape)``."""
    batch = np.asarray(rows, dtype=np.float32).reshape((-1, *sample_shape))
    return batch if scale == 1.0 else batch / np.float32(scale)


def iter_batches(X, batch_size, sample_shape, scale=1.0, rows=None):
    """Consecutive float32 batches of ``X[rows] / scale`` (all rows by default), in order."""
    n_rows = len(X) if rows is None else len(rows)
    for start in range(0, n_rows, batch_size):
        chunk = (
            slice(start, start + batch_size) if rows is None else rows[start : start + batch_size]
        )
        yield as_model_batch(X[chunk], sample_shape, scale)


def training_dataset(X, indices, *, batch_size, sample_shape, scale=1.0, seed=None, shuffle=True):
    """A ``tf.data.Dataset`` of float32 batches of ``X[indices]``.

    Each pass (epoch) draws a new order from a NumPy generator seeded once
    with ``seed``, so the sequence of epochs is reproducible.

    Args:
        X: 2-D array, ``(n_samples, n_features)``; memmaps are read lazily.
        indices: Rows of ``X`` to use.
        batch_size: Rows per batch (the last batch may be smaller).
        sample_shape: Shape of one sample as the model takes it.
        scale: Every batch is divided by this (255 for 8-bit images).
        seed: Seed of the shuffling order.
        shuffle: Whether to shuffle every pass.

    Returns:
        A dataset with known cardinality, prefetching one batch ahead.
    """
    rng = np.random.default_rng(seed)
    indices = np.asarray(indices)

    def batches():
        order = rng.permutation(indices) if shuffle else indices
        for start in range(0, len(order), batch_size):
            # Sorted indices read a memmap sequentially; the loss is a mean,
            # so the order inside a batch does not matter.
            rows = X[np.sort(order[start : start + batch_size])]
            yield as_model_batch(rows, sample_shape, scale)

    dataset = tf.data.Dataset.from_generator(
        batches,
        output_signature=tf.TensorSpec((None, *sample_shape), tf.float32),
    )
    n_batches = math.ceil(len(indices) / batch_size)
    return dataset.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(1)
