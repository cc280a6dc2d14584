"""Training under a ``tf.distribute`` strategy: agreed seeds and per-replica input.

With ``MultiWorkerMirroredStrategy`` every worker runs the same script on the
same ``X``, and the fit must be one fit, not several:

* :func:`agreed_seeds` gives every worker worker 0's seeds, so the validation
  split, the shuffling orders, the initial weights and the scoring draws are
  the same everywhere even with ``random_state=None``.
* :func:`fit_inputs` feeds ``keras.Model.fit`` through
  ``strategy.distribute_datasets_from_function``: each worker reads and
  converts only its own replicas' rows of every global batch (see
  ``_data.replica_dataset``). ``experimental_distribute_dataset``, which
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

import tensorflow as tf

from ._data import global_batch_count, replica_dataset, training_dataset


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
