"""``skvae.dask``: inference on dask arrays equals inference in memory.

Most tests run on dask's threaded scheduler in this process; one runs on a
``LocalCluster`` of two worker processes on 127.0.0.1 and counts how often
each worker unpickles the model.
"""

import dask
import dask.array as da
import numpy as np
import pytest

from skvae import VariationalAutoencoder
from skvae import dask as skvae_dask

TINY = dict(epochs=1, batch_size=16, conv_filters=(4, 8), conv_strides=(1, 2))
# A row's float32 results move by a few ulps with the rows computed beside
# it (see the user guide): blocks and the whole array agree to this.
FLOAT32_TOLERANCE = dict(rtol=1e-5, atol=1e-6)
METHODS = ("transform", "inverse_transform", "score_samples")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((150, 8, 8, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(images):
    return VariationalAutoencoder(random_state=0, **TINY).fit(images)


def _in_memory_and_blockwise(vae, X, chunks):
    """Each method's in-memory result, and its dask result from blocks of ``chunks`` rows."""
    Z = vae.transform(X)
    inputs = {"transform": X, "inverse_transform": Z, "score_samples": X}
    for method in METHODS:
        lazy = getattr(skvae_dask, method)(vae, da.from_array(inputs[method], chunks=chunks))
        yield method, getattr(vae, method)(inputs[method]), lazy


def _assert_equal_results(vae, X, chunks):
    for method, expected, lazy in _in_memory_and_blockwise(vae, X, chunks):
        assert lazy.shape == expected.shape and lazy.dtype == expected.dtype, method
        np.testing.assert_allclose(lazy.compute(), expected, **FLOAT32_TOLERANCE, err_msg=method)


@pytest.mark.parametrize("chunks", [50, 64, 37])
def test_blocks_of_4d_images_give_the_in_memory_results(fitted, images, chunks):
    _assert_equal_results(fitted, images, chunks)


def test_rows_of_a_table_and_float64_give_the_in_memory_results():
    X = np.random.default_rng(1).random((90, 5))
    vae = VariationalAutoencoder(random_state=0, **TINY).fit(X)
    _assert_equal_results(vae, X, 40)


def test_rows_split_across_columns_are_joined_and_empty_blocks_pass(fitted, images):
    X = da.from_array(images.reshape(150, 64), chunks=(40, 16))
    np.testing.assert_allclose(
        skvae_dask.transform(fitted, X).compute(), fitted.transform(images), **FLOAT32_TOLERANCE
    )
    kept = X[X[:, 0] > 2.0]  # no row passes: blocks of no rows, of unknown length
    assert skvae_dask.score_samples(fitted, kept).compute().shape == (0,)


def test_bad_input_fails_at_the_call(fitted, images):
    with pytest.raises(TypeError, match="must be a dask array, not ndarray"):
        skvae_dask.transform(fitted, images)
    with pytest.raises(ValueError, match="features"):
        skvae_dask.transform(fitted, da.zeros((10, 7), chunks=5))
    with pytest.raises(ValueError, match="not fitted"):
        skvae_dask.transform(VariationalAutoencoder(), da.zeros((10, 64), chunks=5))


def test_a_result_keeps_the_model_of_its_call_and_models_never_mix(images):
    vae = VariationalAutoencoder(random_state=0, **TINY).fit(images)
    before = vae.transform(images)
    lazy_before = skvae_dask.transform(vae, da.from_array(images, chunks=50))
    vae.set_params(random_state=1).fit(images)  # the same estimator, refitted
    lazy_after = skvae_dask.transform(vae, da.from_array(images, chunks=50))
    # Computed together, in one graph: each keeps its own model.
    computed_before, computed_after = dask.compute(lazy_before, lazy_after)
    np.testing.assert_allclose(computed_before, before, **FLOAT32_TOLERANCE)
    np.testing.assert_allclose(computed_after, vae.transform(images), **FLOAT32_TOLERANCE)
    assert not np.allclose(computed_before, computed_after)


@pytest.mark.slow
def test_on_a_local_cluster_each_worker_loads_the_model_once(
    fitted, images, monkeypatch, loopback_cluster
):
    distributed = pytest.importorskip("dask.distributed")
    psutil = pytest.importorskip("psutil")  # a dependency of distributed
    # The cluster's nanny sets OMP_NUM_THREADS=1 in this process's environment
    # for its workers; monkeypatch puts the variable back after the test.
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    monkeypatch.delenv("OMP_NUM_THREADS")

    def count_unpickled_estimators():
        # Runs on each worker: counts the estimators it unpickles from now on.
        from skvae import VariationalAutoencoder

        unpickle = VariationalAutoencoder.__setstate__

        def counting(self, state):
            counting.count += 1
            unpickle(self, state)

        counting.count = 0
        VariationalAutoencoder.__setstate__ = counting

    def unpickled_estimators():
        from skvae import VariationalAutoencoder

        return VariationalAutoencoder.__setstate__.count

    with (
        # dask's active memory manager drops a copy of the model from a worker
        # that has no block waiting for it at that moment; a block that lands
        # there later fetches it again. That is dask's memory policy, not this
        # graph's, and happens every 2 s at most, so a slow machine saw one
        # extra load per worker now and then; off, the count is exact.
        dask.config.set({"distributed.scheduler.active-memory-manager.start": False}),
        loopback_cluster() as cluster,
        distributed.Client(cluster) as client,
    ):
        # The scheduler and nannies live in this process, the workers in its
        # children: all their servers listen on 127.0.0.1 only.
        here = psutil.Process()
        listening = [
            connection.laddr.ip
            for process in (here, *here.children(recursive=True))
            for connection in process.net_connections("inet")
            if connection.status == psutil.CONN_LISTEN
        ]
        assert listening and set(listening) == {"127.0.0.1"}, listening
        client.run(count_unpickled_estimators)
        # 12 blocks of 4-D images for each method, on two workers.
        for method, expected, lazy in _in_memory_and_blockwise(fitted, images, 13):
            np.testing.assert_allclose(
                lazy.compute(), expected, **FLOAT32_TOLERANCE, err_msg=method
            )
        # Once per worker and computation (one to run the task that
        # unpickles it, one fetch by the other worker), not once per block.
        loads = client.run(unpickled_estimators)
        assert max(loads.values()) <= len(METHODS), f"unpickled per block: {loads}"
        # A refitted estimator is a new model for the workers too.
        refitted = VariationalAutoencoder(random_state=1, **TINY).fit(images)
        np.testing.assert_allclose(
            skvae_dask.transform(refitted, da.from_array(images, chunks=50)).compute(),
            refitted.transform(images),
            **FLOAT32_TOLERANCE,
        )
