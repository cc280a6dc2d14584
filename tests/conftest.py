import contextlib
import gzip
import os

import numpy as np
import pytest
from hypothesis import settings
from sklearn.datasets import load_digits

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Every profile drops the per-example deadline: the first call of a Keras
# function traces a graph, which takes far longer than any later call.
# "ci": reproducible runs (selected when CI is set); "local": the default
# elsewhere; "dev": many more examples, for hunting bugs (HYPOTHESIS_PROFILE=dev).
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.register_profile("local", deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=500, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "local")
)


@pytest.fixture(scope="session")
def float64_ops():
    """A context in which ``keras.ops`` compute float64 input in float64.

    TensorFlow always does; JAX computes float64 input in float32 unless its
    x64 mode is on, a process-wide setting that this context turns on for
    the block only. For tests that hold a formula to float64 precision.
    Session-scoped, so that hypothesis's tests may use it.
    """
    import keras

    if keras.backend.backend() != "jax":
        return contextlib.nullcontext
    import jax

    return lambda: jax.enable_x64(True)


@pytest.fixture(scope="session")
def install_linear_gaussian():
    """Make a fitted linear estimator's networks a given linear-Gaussian model.

    The returned function takes an estimator fitted with
    ``hidden_layer_sizes=()`` and ``output_activation="linear"``, the
    encoder's ``mu`` kernel and bias and its constant ``log_var``, and the
    decoder's ``W`` (features x latent) and offset ``b``; it sets them as
    float32 weights and returns the estimator.
    """

    def install(estimator, mu_kernel, mu_bias, log_var_bias, weights, offset):
        as32 = np.float32
        estimator.encoder_.get_layer("mu").set_weights([as32(mu_kernel), as32(mu_bias)])
        estimator.encoder_.get_layer("log_var_unclipped").set_weights(
            [np.zeros_like(as32(mu_kernel)), as32(log_var_bias)]
        )
        (dense,) = [layer for layer in estimator.decoder_.layers if layer.weights]
        dense.set_weights([as32(weights.T), as32(offset)])
        return estimator

    return install


@pytest.fixture
def loopback_cluster():
    """Make a dask ``LocalCluster`` of worker processes listening on 127.0.0.1 only.

    A factory rather than the cluster itself, so a test can prepare its
    environment before the cluster starts; use the cluster as a context
    manager so it stops with the test.
    """
    distributed = pytest.importorskip("dask.distributed")

    def make(n_workers=2):
        return distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # Explicit addresses: distributed 2024.1 still opens both
            # dashboards on every interface when they are None.
            dashboard_address="127.0.0.1:0",
            worker_dashboard_address="127.0.0.1:0",
        )

    return make


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits scaled to [0, 1], as float32 rows."""
    data = load_digits()
    return (data.data / 16).astype(np.float32), data.target


def _write_idx(path, array):
    """Write ``array`` as a gzipped IDX file (big-endian sizes, uint8 data)."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture
def tiny_mnist_dir(tmp_path, digits):
    """An MNIST-style directory: 600 digits upscaled to 28x28, as IDX files."""
    images, labels = digits
    images = np.kron(images[:600].reshape(-1, 8, 8), np.ones((3, 3)))  # 24x24
    images = np.pad(images, ((0, 0), (2, 2), (2, 2))) * 255
    directory = tmp_path / "mnist"
    directory.mkdir()
    _write_idx(directory / "images-idx3-ubyte.gz", images)
    _write_idx(directory / "labels-idx1-ubyte.gz", labels[:600])
    return directory


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``tensorflow_only`` unless Keras runs on TensorFlow."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(
        reason=f"tests TensorFlow-only behaviour; Keras runs on {backend!r} (KERAS_BACKEND)"
    )
    for item in items:
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)
