"""Direct tests of ``skvae._data``: model batches, inference batches, training datasets.

``replica_dataset`` is tested here without a strategy: every pipeline of a
multi-worker fit builds it alone, so its promise (the pipelines' parts make
up each global batch exactly) holds or fails in these pipelines themselves.

The row values of most inputs here are their own indices, so a batch shows
which rows it holds.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skvae._data import (
    as_model_batch,
    global_batch_count,
    iter_batches,
)
from skvae._distribute import replica_dataset, training_dataset

# Each example builds a tf.data pipeline and drains it twice (about 0.2 s);
# a tenth of the profile's examples keeps this file fast, and the dev profile
# still runs many.
dataset_property = settings(max_examples=max(10, settings.default.max_examples // 10))


def indexed_rows(n_rows, n_features=2, dtype=np.float32):
    """``(n_rows, n_features)`` rows whose every value is the row's index."""
    return np.repeat(np.arange(n_rows), n_features).reshape(n_rows, n_features).astype(dtype)


def batch_sizes(n_rows, batch_size):
    """Sizes of consecutive batches of ``n_rows`` rows: full ones, then the rest."""
    return [min(batch_size, n_rows - start) for start in range(0, n_rows, batch_size)]


def epoch(dataset):
    """One pass over ``dataset`` as a list of NumPy batches."""
    return [batch.numpy() for batch in dataset]


def row_indices(batches):
    """Per batch, the indices of the :func:`indexed_rows` it holds."""
    return [batch.reshape(len(batch), -1)[:, 0].astype(int).tolist() for batch in batches]


# as_model_batch -------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, scale", [(np.uint8, 255.0), (np.float64, 1.0), (np.float32, 1.0), (np.float32, 2.0)]
)
def test_model_batch_is_float32_rows_divided_by_scale_in_the_sample_shape(dtype, scale):
    rows = (np.arange(24).reshape(2, 12) * 10).astype(dtype)
    batch = as_model_batch(rows, (2, 3, 2), scale)
    assert batch.dtype == np.float32
    assert batch.shape == (2, 2, 3, 2)
    expected = rows.astype(np.float64).reshape(2, 2, 3, 2) / scale
    np.testing.assert_allclose(batch, expected, rtol=np.finfo(np.float32).eps)


def test_model_batch_of_uint8_spans_the_unit_interval():
    batch = as_model_batch(np.array([[0, 255]], np.uint8), (2,), 255.0)
    np.testing.assert_array_equal(batch, [[0.0, 1.0]])


def test_model_batch_accepts_a_list_and_an_empty_batch():
    assert as_model_batch([[1, 2, 3, 4]], (2, 2)).shape == (1, 2, 2)
    empty = as_model_batch(np.empty((0, 4), np.uint8), (2, 2, 1), 255.0)
    assert empty.shape == (0, 2, 2, 1) and empty.dtype == np.float32


# iter_batches ---------------------------------------------------------------


@given(n_rows=st.integers(0, 50), batch_size=st.integers(1, 20))
def test_inference_batches_cover_every_row_once_in_order(n_rows, batch_size):
    X = indexed_rows(n_rows, dtype=np.float64)
    batches = list(iter_batches(X, batch_size, (2,)))
    assert [len(batch) for batch in batches] == batch_sizes(n_rows, batch_size)
    assert all(batch.dtype == np.float32 for batch in batches)
    flat = np.concatenate(batches) if batches else np.empty((0, 2))
    np.testing.assert_array_equal(flat, X)


def test_inference_batches_are_scaled_and_shaped_like_model_batches():
    X = np.arange(30, dtype=np.uint8).reshape(5, 6)
    batches = list(iter_batches(X, 2, (2, 3, 1), 255.0))
    assert [batch.shape for batch in batches] == [(2, 2, 3, 1), (2, 2, 3, 1), (1, 2, 3, 1)]
    np.testing.assert_array_equal(batches[2], as_model_batch(X[4:], (2, 3, 1), 255.0))


# training_dataset -----------------------------------------------------------


@dataset_property
@given(
    n_rows=st.integers(1, 40),
    batch_size=st.integers(1, 16),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_every_training_row_comes_once_per_epoch(n_rows, batch_size, seed, data):
    X = indexed_rows(n_rows)
    indices = data.draw(st.lists(st.integers(0, n_rows - 1), min_size=1, unique=True))
    dataset = training_dataset(X, indices, batch_size=batch_size, sample_shape=(2,), seed=seed)
    assert dataset.cardinality().numpy() == math.ceil(len(indices) / batch_size)
    for _ in range(2):
        batches = epoch(dataset)
        assert [len(batch) for batch in batches] == batch_sizes(len(indices), batch_size)
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)[:, 0]), np.sort(indices))


def test_each_epoch_has_a_new_order_and_a_seed_repeats_the_sequence():
    X = indexed_rows(30)

    def three_epochs(seed):
        dataset = training_dataset(X, np.arange(30), batch_size=8, sample_shape=(2,), seed=seed)
        return [row_indices(epoch(dataset)) for _ in range(3)]

    first, second, third = three_epochs(seed=0)
    assert first != second and second != third and first != third
    assert three_epochs(seed=0) == [first, second, third]
    assert three_epochs(seed=1) != [first, second, third]
    for batch in first:
        assert batch == sorted(batch), "rows inside a batch are read in sorted order"


def test_without_shuffling_batches_are_consecutive_indices_every_epoch():
    X = indexed_rows(20)
    indices = [3, 5, 6, 9, 12, 13, 17]
    dataset = training_dataset(X, indices, batch_size=3, sample_shape=(2,), seed=0, shuffle=False)
    for _ in range(2):
        assert row_indices(epoch(dataset)) == [[3, 5, 6], [9, 12, 13], [17]]


class RowReadRecorder:
    """Wraps an array, records the number of rows each indexing reads, refuses conversion."""

    def __init__(self, array):
        self.array = array
        self.rows_read = []

    def __len__(self):
        return len(self.array)

    def __getitem__(self, key):
        rows = self.array[key]
        self.rows_read.append(len(rows))
        return rows

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole array was converted")


def test_a_uint8_memmap_is_read_batch_by_batch_and_scaled(tmp_path):
    images = (np.arange(10 * 12) % 256).astype(np.uint8).reshape(10, 12)
    memmap = np.memmap(tmp_path / "images.u8", np.uint8, "w+", shape=images.shape)
    memmap[:] = images
    memmap.flush()
    X = RowReadRecorder(np.memmap(tmp_path / "images.u8", np.uint8, "r", shape=images.shape))
    dataset = training_dataset(
        X, np.arange(10), batch_size=4, sample_shape=(2, 6, 1), scale=255.0, shuffle=False
    )

    batches = epoch(dataset)
    assert X.rows_read == [4, 4, 2]
    assert [batch.dtype for batch in batches] == [np.float32] * 3
    assert [batch.shape for batch in batches] == [(4, 2, 6, 1), (4, 2, 6, 1), (2, 2, 6, 1)]
    expected = images.reshape(10, 2, 6, 1).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(np.concatenate(batches), expected)


# replica_dataset ------------------------------------------------------------


def replica_parts(X, indices, n_passes, **kwargs):
    """Per pass, the row indices of each element of one pipeline's pass."""
    dataset = replica_dataset(X, indices, sample_shape=(2,), **kwargs)
    n_elements = global_batch_count(len(indices), kwargs["batch_size"], kwargs["n_replicas"])
    n_elements *= len(kwargs["replicas"])
    elements = row_indices(batch.numpy() for batch in dataset.take(n_passes * n_elements))
    return [elements[i * n_elements : (i + 1) * n_elements] for i in range(n_passes)]


@pytest.mark.parametrize(
    "n_rows, batch_size, n_replicas, expected",
    [(12, 4, 2, 3), (13, 4, 2, 3), (14, 4, 2, 4), (3, 8, 2, 1), (1, 8, 2, 0), (8, 1, 2, 0)],
)
def test_global_batch_count_drops_a_tail_too_small_for_every_replica(
    n_rows, batch_size, n_replicas, expected
):
    assert global_batch_count(n_rows, batch_size, n_replicas) == expected


@dataset_property
@given(
    n_rows=st.integers(2, 40),
    n_replicas=st.integers(1, 3),
    rows_per_replica=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_replicas_parts_make_up_each_global_batch_exactly(
    n_rows, n_replicas, rows_per_replica, seed
):
    batch_size = n_replicas * rows_per_replica  # other sizes are refused before this
    X = indexed_rows(n_rows)
    indices = np.arange(n_rows)
    common = dict(batch_size=batch_size, seed=seed, n_replicas=n_replicas)
    # One pipeline per replica, as under one worker per replica.
    pipelines = [replica_parts(X, indices, 2, replicas=[r], **common) for r in range(n_replicas)]
    # One pipeline for all of them, as under one worker with several devices.
    together = replica_parts(X, indices, 2, replicas=range(n_replicas), **common)
    n_batches = global_batch_count(n_rows, batch_size, n_replicas)
    n_full, rest = divmod(n_rows, batch_size)
    for p in range(2):
        batches = [
            [row for pipeline in pipelines for row in pipeline[p][b]] for b in range(n_batches)
        ]
        flat_together = [
            together[p][b * n_replicas + r] for b in range(n_batches) for r in range(n_replicas)
        ]
        assert [row for part in flat_together for row in part] == [
            row for batch in batches for row in batch
        ]
        for b, batch in enumerate(batches):
            sizes = {len(pipeline[p][b]) for pipeline in pipelines}
            assert len(sizes) == 1 and 0 not in sizes, "the replicas' parts differ in size"
            assert len(batch) == (batch_size if b < n_full else rest - rest % n_replicas)
        rows = [row for batch in batches for row in batch]
        assert len(set(rows)) == len(rows), "a row came twice in one pass"
        assert len(rows) >= n_rows - (n_replicas - 1), "more than a pass's tail was left out"


def test_passes_are_new_orders_that_a_seed_repeats_and_validation_keeps_its_order():
    X = indexed_rows(30)
    common = dict(batch_size=8, n_replicas=2, replicas=[0])
    first, second = replica_parts(X, np.arange(30), 2, seed=0, **common)
    assert first != second
    assert replica_parts(X, np.arange(30), 2, seed=0, **common) == [first, second]
    assert replica_parts(X, np.arange(30), 2, seed=1, **common) != [first, second]
    ordered = replica_parts(X, np.arange(30), 2, seed=0, shuffle=False, **common)
    assert (
        ordered[0] == ordered[1] == [[0, 1, 2, 3], [8, 9, 10, 11], [16, 17, 18, 19], [24, 25, 26]]
    )


def test_a_replica_pipeline_reads_only_its_own_rows():
    X = RowReadRecorder(indexed_rows(20))
    dataset = replica_dataset(
        X, np.arange(20), batch_size=8, sample_shape=(2,), seed=0, replicas=[1], n_replicas=2
    )
    list(dataset.take(3))  # one pass: batches of 8, 8 and 4 rows, of which it holds half
    assert X.rows_read[:3] == [4, 4, 2]


def test_indexed_batches_are_the_same_whoever_asks_and_new_each_pass():
    from skvae._data import IndexedBatches

    X = np.arange(10, dtype=np.float32)[:, None]
    common = dict(batch_size=4, sample_shape=(1,), seed=3, steps=5)
    batches, again = (
        IndexedBatches(X, np.arange(10), **common),
        IndexedBatches(X, np.arange(10), **common),
    )
    # Reading a batch twice (Keras reads the first to learn its shape) shifts nothing.
    first = [batches[i] for i in (0, 0, 1, 2, 3, 4)]
    assert all(
        np.array_equal(a, b) for a, b in zip(first[1:], [again[i] for i in range(5)], strict=True)
    )
    # Each pass holds every row once; the 5 steps run into a second pass.
    assert sorted(np.concatenate(first[1:4]).ravel()) == list(range(10))
    batches.on_epoch_end()
    assert not np.array_equal(batches[0], first[0])
