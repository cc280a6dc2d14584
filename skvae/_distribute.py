"""TensorFlow's input pipelines, and training under a ``tf.distribute`` strategy.

Only the TensorFlow backend (``_backends.tensorflow``) imports this module.

With ``MultiWorkerMirroredStrategy`` every worker runs the same script on the
same ``X``, and the fit must be one fit, not several:

* :func:`agreed_seeds` gives every worker worker 0's seeds, so the validation
  split, the shuffling orders, the initial weights and the scoring draws are
  the same everywhere even with ``random_state=None``.
* :func:`fit_inputs` feeds ``keras.Model.fit`` through
  ``strategy.distribute_datasets_from_function``: each worker reads and
  converts only its own replicas' rows of every global batch (see
  :func:`replica_dataset`). ``experimental_distribute_dataset``, which
  Keras applies to a plain dataset, shards our generator dataset by *data*:
  every worker then runs the whole generator, reading and converting every
  row, keeps its share and drops the rest, and a last batch smaller than
  the number of workers leaves a worker an empty batch, whose mean loss is
  NaN.

Early stopping needs nothing of its own: Keras' metrics are mirrored
variables summed over all replicas, so every worker logs the same
``loss`` and ``val_loss`` (the mean over all shards) and stops, and restores
its best weights, at the same epoch.
"""

import math

import numpy as np
import tensorflow as tf

from ._data import cut_among_replicas, gathered_batch, global_batch_count


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
            yield gathered_batch(X, order[start : start + batch_size], sample_shape, scale)

    dataset = tf.data.Dataset.from_generator(
        batches,
        output_signature=tf.TensorSpec((None, *sample_shape), tf.float32),
    )
    n_batches = math.ceil(len(indices) / batch_size)
    return dataset.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(1)


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
            batch_parts = cut_among_replicas(order[start : start + batch_size], n_replicas)
            for replica in replicas:
                yield gathered_batch(X, batch_parts[replica], sample_shape, scale)

    spec = tf.TensorSpec((None, *sample_shape), tf.float32)
    passes = tf.data.Dataset.counter().flat_map(
        lambda pass_index: tf.data.Dataset.from_generator(
            parts, args=(pass_index,), output_signature=spec
        )
    )
    return passes.prefetch(1)


def agreed_seeds(seeds, strategy, n_samples):
    """Worker 0's ``seeds`` on every worker of ``strategy`` (a :class:`~skvae._seeding.Seeds`).

    Replica 0 contributes its seeds to a sum and the others zeros. A second
    sum counts the replicas whose ``n_samples`` differs from worker 0's, since
    a worker given other data than the rest would silently train on a mix;
    every worker sees that count, so all of them raise, and none waits alone
    in the next collective.

    Raises:
        ValueError: On every worker, if the workers' ``X`` differ in length.
    """
    own = [*seeds, n_samples]
    *agreed, first_rows = _summed(strategy, lambda first: own if first else [0] * len(own))
    (mismatches,) = _summed(strategy, lambda first: [n_samples != first_rows])
    if mismatches:
        raise ValueError(
            f"The workers' X differ in length ({n_samples} rows here, {first_rows} on "
            "worker 0). Under MultiWorkerMirroredStrategy every worker passes the whole "
            "training set; each trains on its own share of every batch."
        )
    return type(seeds)(*agreed)


def _summed(strategy, contribution):
    """Sum over all replicas of ``contribution(is_replica_0)``, a list of ints."""
    values = strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(contribution(context.replica_id_in_sync_group == 0), tf.int64)
    )
    return [int(value) for value in strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None)]


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
    """Keyword arguments of ``keras.Model.fit`` that feed it these rows of ``X``.

    Outside a strategy scope: a shuffled training dataset and an ordered
    validation dataset (or None), one pass per epoch. Inside one: endless
    distributed datasets of per-replica parts of global batches of
    ``batch_size`` rows, with the steps of one pass, the same on every worker.
    Either way, an epoch of fewer than ``min_steps_per_epoch`` steps is
    lengthened to that many: the training rows repeat, each pass in a new
    order.

    Raises:
        ValueError: If a set of rows is too small to give every replica a row.
    """
    common = dict(batch_size=batch_size, sample_shape=sample_shape, scale=scale, seed=seed)
    has_validation = len(validation_rows) > 0
    if not tf.distribute.has_strategy():
        x = training_dataset(X, train_rows, shuffle=True, **common)
        inputs = {
            "x": x,
            "validation_data": (
                training_dataset(X, validation_rows, shuffle=False, **common)
                if has_validation
                else None
            ),
        }
        if int(x.cardinality()) < min_steps_per_epoch:
            inputs["x"], inputs["steps_per_epoch"] = x.repeat(), min_steps_per_epoch
        return inputs
    strategy = tf.distribute.get_strategy()
    x, steps = _distributed(strategy, X, train_rows, **common)
    inputs = {"x": x, "steps_per_epoch": max(steps, min_steps_per_epoch)}
    if has_validation:
        inputs["validation_data"], inputs["validation_steps"] = _distributed(
            strategy, X, validation_rows, shuffle=False, **common
        )
    return inputs


def _distributed(strategy, X, rows, *, batch_size, shuffle=True, **dataset_args):
    """A distributed per-replica dataset of ``X[rows]`` and its steps per pass."""
    n_replicas = strategy.num_replicas_in_sync
    if batch_size % n_replicas:
        raise ValueError(
            f"batch_size={batch_size} is not a multiple of the {n_replicas} replicas in "
            "sync; under a distribution strategy it is the global batch, which every "
            "replica shares equally."
        )
    steps = global_batch_count(len(rows), batch_size, n_replicas)
    if steps == 0:
        kind = "training" if shuffle else "validation"
        raise ValueError(
            f"{len(rows)} {kind} rows cannot give each of the {n_replicas} replicas in "
            f"sync a row; pass at least {n_replicas} {kind} rows."
        )

    def dataset_fn(context):
        per_pipeline = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * per_pipeline
        return replica_dataset(
            X,
            rows,
            batch_size=batch_size,
            shuffle=shuffle,
            replicas=range(first, first + per_pipeline),
            n_replicas=context.num_replicas_in_sync,
            **dataset_args,
        )

    return strategy.distribute_datasets_from_function(dataset_fn), steps
