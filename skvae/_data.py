"""Feeding arrays to the model: shuffled training batches and inference chunks.

Batches are gathered and converted to float32 one at a time, so fitting on a
large array (or ``numpy.memmap``) never holds a float32 copy of all of it.
The TensorFlow backend feeds them to Keras through ``tf.data`` pipelines
(``_distribute``); other backends through :class:`IndexedBatches`.
"""

import math

import keras
import numpy as np


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


def gathered_batch(X, rows, sample_shape, scale):
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


def cut_among_replicas(batch, n_replicas):
    """``batch`` cut into ``n_replicas`` equal parts; up to ``n_replicas - 1`` rows left out.

    Keras sums the first batch of a fit over the replicas to build the model,
    which fails unless all parts have one shape; equal parts also make the
    mean of the replicas' mean losses the mean over the batch.
    """
    return np.split(batch[: len(batch) - len(batch) % n_replicas], n_replicas)


class IndexedBatches(keras.utils.PyDataset):
    """Float32 batches of ``X[indices]``, each addressed by its index in the epoch.

    Pass ``p`` over the rows orders them with a NumPy generator seeded by
    ``(seed, p)``, so batch ``i`` of epoch ``e`` is the same whoever asks for
    it and how often (Keras reads the first batch once more to learn its
    shape): the sequence of epochs is reproducible.

    Args:
        X: 2-D array, ``(n_samples, n_features)``; memmaps are read lazily.
        indices: Rows of ``X`` to use.
        batch_size: Rows per batch (the last batch of a pass may be smaller).
        sample_shape: Shape of one sample as the model takes it.
        scale: Every batch is divided by this (255 for 8-bit images).
        seed: Integer seed of the shuffling orders.
        shuffle: Whether to shuffle every pass.
        steps: Batches an epoch has at least: fewer batches than this
            repeat the rows, each pass in a new order.

    Examples:
        >>> import numpy as np
        >>> X = np.arange(5, dtype=np.float32)[:, None]
        >>> batches = IndexedBatches(X, np.arange(5), batch_size=2, sample_shape=(1,),
        ...                          seed=0, shuffle=False, steps=4)
        >>> [batches[i].ravel().tolist() for i in range(len(batches))]
        [[0.0, 1.0], [2.0, 3.0], [4.0], [0.0, 1.0]]
    """

    def __init__(
        self, X, indices, *, batch_size, sample_shape, scale=1.0, seed, shuffle=True, steps=0
    ):
        super().__init__()
        self._X, self._indices = X, np.asarray(indices)
        self._batch_size, self._sample_shape, self._scale = batch_size, sample_shape, scale
        self._seed, self._shuffle = seed, shuffle
        self._batches_per_pass = math.ceil(len(self._indices) / batch_size)
        self._length = max(self._batches_per_pass, steps)
        self._epoch = 0
        self._pass, self._order = None, None

    def __len__(self):
        return self._length

    def __getitem__(self, index):
        pass_index, batch = divmod(self._epoch * self._length + index, self._batches_per_pass)
        start = batch * self._batch_size
        rows = self._pass_order(pass_index)[start : start + self._batch_size]
        return gathered_batch(self._X, rows, self._sample_shape, self._scale)

    def on_epoch_end(self):
        self._epoch += 1

    def _pass_order(self, pass_index):
        if not self._shuffle:
            return self._indices
        if pass_index != self._pass:
            generator = np.random.default_rng([self._seed, pass_index])
            self._pass, self._order = pass_index, generator.permutation(self._indices)
        return self._order
