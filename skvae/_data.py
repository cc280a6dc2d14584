"""Feeding arrays to the model: shuffled training batches and inference chunks.

Batches are gathered and converted to float32 one at a time, so fitting on a
large array (or ``numpy.memmap``) never holds a float32 copy of all of it.
Under a ``tf.distribute`` strategy each input pipeline gathers only the rows
of its own replicas (:func:`replica_dataset`).
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
            yield _gathered(X, order[start : start + batch_size], sample_shape, scale)

    dataset = tf.data.Dataset.from_generator(
        batches,
        output_signature=tf.TensorSpec((None, *sample_shape), tf.float32),
    )
    n_batches = math.ceil(len(indices) / batch_size)
    return dataset.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(1)


def _gathered(X, rows, sample_shape, scale):
    # Sorted indices read a memmap sequentially; the loss is a mean, so the
    # order inside a batch does not matter.
    return as_model_batch(X[np.sort(rows)], sample_shape, scale)


def global_batch_count(n_rows, batch_size, n_replicas):
    """Global batches per pass over ``n_rows`` rows when each of ``n_replicas`` needs a row.

    A last, partial batch with fewer rows than replicas is left out: a replica
    with no rows would average its loss over nothing (NaN).
    """
    if batch_size < n_replicas:
        return 0
    n_full, rest = divmod(n_rows, batch_size)
    return n_full + (rest >= n_replicas)


def _cut_among_replicas(batch, n_replicas):
    """``batch`` cut into ``n_replicas`` equal parts; up to ``n_replicas - 1`` rows left out.

    Keras sums the first batch of a fit over the replicas to build the model,
    which fails unless all parts have one shape; equal parts also make the
    mean of the replicas' mean losses the mean over the batch.
    """
    return np.split(batch[: len(batch) - len(batch) % n_replicas], n_replicas)


def replica_dataset(
    X,
    indices,
    *,
    batch_size,
    sample_shape,
    scale=1.0,
    seed,
    shuffle=True,
    replicas,
    n_replicas,
):
    """An endless ``tf.data.Dataset`` of some replicas' parts of every global batch.

    Every input pipeline of a ``tf.distribute`` strategy builds this with the
    same ``indices``, ``batch_size`` and ``seed``, so all of them derive the
    same global batches without talking to each other. Pass ``p`` orders the
    rows with a generator seeded by ``(seed, p)``; each global batch of
    ``batch_size`` rows (a multiple of ``n_replicas``) is cut into
    ``n_replicas`` equal parts, the last one of a pass after leaving out the
    rows beyond a multiple of ``n_replicas``, and this pipeline gathers and
    yields only the parts of ``replicas``, in order. A step that takes one
    element per local replica therefore takes one global batch, and no
    pipeline reads another one's rows.

    The passes are numbered inside the dataset rather than counted by the
    generator, so an iterator that Keras opens and drops (it takes one batch
    to build the model) cannot shift one worker's orders against another's.

    Args:
        X: 2-D array, ``(n_samples, n_features)``; memmaps are read lazily.
        indices: Rows of ``X`` to use.
        batch_size: Rows per global batch, a multiple of ``n_replicas``.
        sample_shape: Shape of one sample as the model takes it.
        scale: Every batch is divided by this (255 for 8-bit images).
        seed: Integer seed of the shuffling orders.
        shuffle: Whether to shuffle every pass.
        replicas: Replica ids (``0 <= id < n_replicas``) this pipeline feeds.
        n_replicas: Replicas in sync across all workers.

    Returns:
        A repeated dataset; one pass holds :func:`global_batch_count`
        elements per replica in ``replicas``.

    Examples:
        >>> import numpy as np
        >>> X = np.arange(10, dtype=np.float32)[:, None]
        >>> second = replica_dataset(X, np.arange(10), batch_size=4, sample_shape=(1,),
        ...                          seed=0, shuffle=False, replicas=[1], n_replicas=2)
        >>> [batch.numpy().ravel().tolist() for batch in second.take(3)]
        [[2.0, 3.0], [6.0, 7.0], [9.0]]
    """
    indices = np.asarray(indices)
    n_batches = global_batch_count(len(indices), batch_size, n_replicas)

    def parts(pass_index):
        order = indices
        if shuffle:
            order = np.random.default_rng([seed, pass_index]).permutation(indices)
        for start in range(0, n_batches * batch_size, batch_size):
            batch_parts = _cut_among_replicas(order[start : start + batch_size], n_replicas)
            for replica in replicas:
                yield _gathered(X, batch_parts[replica], sample_shape, scale)

    spec = tf.TensorSpec((None, *sample_shape), tf.float32)
    passes = tf.data.Dataset.counter().flat_map(
        lambda pass_index: tf.data.Dataset.from_generator(
            parts, args=(pass_index,), output_signature=spec
        )
    )
    return passes.prefetch(1)
