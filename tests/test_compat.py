"""Each private upstream name that ``skvae._compat`` and the TensorFlow backend rely on exists.

These are cheap and fail on the exact name when a TensorFlow, Keras or
scikit-learn release moves one, before any training test fails obscurely.
The TensorFlow backend's are tested on TensorFlow only.
"""

import contextlib
import pickle
from numbers import Integral

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.utils._param_validation import InvalidParameterError
from tensorflow.python.framework import config as tf_config

from skvae import VariationalAutoencoder, _compat
from skvae._backends import tensorflow as tf_backend


@pytest.mark.tensorflow_only
def test_op_determinism_switch_exists_and_is_restored():
    for name in ("is_op_determinism_enabled", "enable_op_determinism", "disable_op_determinism"):
        assert callable(getattr(tf_config, name)), name
    before = tf_config.is_op_determinism_enabled()
    with tf_backend.deterministic_ops():
        assert tf_config.is_op_determinism_enabled()
    assert tf_config.is_op_determinism_enabled() == before


@pytest.mark.tensorflow_only
def test_adam_still_has_the_hooks_and_slots_we_use():
    # If Keras renames them, our overrides silently stop preventing the leak
    # and fusing the update, or fail on the slots.
    for name in ("_all_reduce_sum_gradients", "_backend_update_step"):
        assert name in vars(tf_backend.SingleReplicaAdam), name
        assert callable(getattr(keras.optimizers.Adam, name, None)), name
    optimizer = tf_backend.SingleReplicaAdam(0.1)
    variable = keras.Variable(np.ones(3, np.float32))
    optimizer.build([variable])
    index = optimizer._get_variable_index(variable)
    assert optimizer._momentums[index].shape == optimizer._velocities[index].shape == (3,)


def _adam_steps(optimizer, n_steps=5, traced=False, strategy=None):
    """How far ``n_steps`` steps of ``optimizer`` on fixed gradients move two variables."""
    initial = [np.ones((2, 3), np.float32), np.zeros(3, np.float32)]
    gradients = [np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), np.float32([0.5, -1, 2])]
    with strategy.scope() if strategy else contextlib.nullcontext():
        variables = [keras.Variable(value) for value in initial]

    def step():
        optimizer.apply_gradients(zip(gradients, variables, strict=True))

    step = tf.function(step) if traced else step
    for _ in range(n_steps):
        strategy.run(step) if strategy else step()
    return [
        np.asarray(variable) - value for variable, value in zip(variables, initial, strict=True)
    ]


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("traced", [False, True])
def test_single_replica_adam_updates_like_adam(traced):
    # TensorFlow's kernel computes 1 - beta_2 in float32, where 0.999 is
    # 0.99900001, Keras in Python floats: the steps agree to about 1e-5.
    fused = _adam_steps(tf_backend.SingleReplicaAdam(0.1), traced=traced)
    keras_adam = _adam_steps(keras.optimizers.Adam(0.1), traced=traced)
    for ours, theirs in zip(fused, keras_adam, strict=True):
        assert np.abs(ours).min() > 0.1  # the variables moved
        np.testing.assert_allclose(ours, theirs, rtol=2e-5)


@pytest.mark.tensorflow_only
def test_single_replica_adam_fuses_the_update_into_one_op_per_variable():
    optimizer = tf_backend.SingleReplicaAdam(0.1)
    variables = [keras.Variable(np.ones(3, np.float32)), keras.Variable(np.ones(2, np.float32))]
    optimizer.build(variables)
    gradients = [tf.ones(3), tf.ones(2)]
    graph = (
        tf.function(lambda: optimizer.apply_gradients(zip(gradients, variables, strict=True)))
        .get_concrete_function()
        .graph
    )
    op_types = [op.type for op in graph.get_operations()]
    assert op_types.count("ResourceApplyAdam") == len(variables)


@pytest.mark.tensorflow_only
def test_under_a_strategy_single_replica_adam_is_keras_adam():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        ours, theirs = tf_backend.SingleReplicaAdam(0.1), keras.optimizers.Adam(0.1)
    for a, b in zip(
        _adam_steps(ours, traced=True, strategy=strategy),
        _adam_steps(theirs, traced=True, strategy=strategy),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.tensorflow_only
def test_multi_worker_mode_is_still_a_method_of_the_strategy():
    # MultiWorkerStepLogs asks the strategy what Keras asks it before taking
    # its multi-worker branch; if TensorFlow renames it, the workaround fails.
    from tensorflow.python.distribute.collective_all_reduce_strategy import (
        CollectiveAllReduceExtended,
    )

    assert callable(getattr(CollectiveAllReduceExtended, "_in_multi_worker_mode", None))


@pytest.mark.tensorflow_only
def test_step_logs_are_left_alone_outside_multi_worker_training():
    logs = {"loss": tf.constant(1.5)}
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        assert tf_backend._reducible_across_workers(logs) is logs


def test_fit_context_validates_parameter_constraints():
    from sklearn.base import BaseEstimator

    class Tiny(BaseEstimator):
        _parameter_constraints = {
            "n": [_compat.Interval(Integral, 1, None, closed="left")],
            "kind": [_compat.StrOptions({"a"})],
        }

        def __init__(self, n=1, kind="a"):
            self.n = n
            self.kind = kind

        @_compat.fit_context(prefer_skip_nested_validation=True)
        def fit(self, X=None):
            return self

    Tiny().fit()
    with pytest.raises(InvalidParameterError, match="'n' parameter"):
        Tiny(n=0).fit()
    with pytest.raises(InvalidParameterError, match="'kind' parameter"):
        Tiny(kind="b").fit()


@pytest.mark.tensorflow_only
def test_thread_limit_is_a_no_op_once_tensorflow_runs(monkeypatch):
    tf.constant(1.0) + 1.0  # the runtime is initialised from here on
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    tf_backend.limit_threads()  # must not raise
    monkeypatch.setenv("OMP_NUM_THREADS", "not-a-number")
    tf_backend.limit_threads()


def test_feature_names_out_mixin_reads_n_features_out():
    # The estimator tells scikit-learn its latent size through this hook.
    from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin

    class Tiny(ClassNamePrefixFeaturesOutMixin, BaseEstimator):
        _n_features_out = 2
        n_features_in_ = 3

        def fit(self, X=None):
            return self

    names = Tiny().fit().get_feature_names_out()
    assert list(names) == ["tiny0", "tiny1"]


@pytest.mark.tensorflow_only
def test_memory_growth_is_harmless_and_repeatable_without_a_gpu(monkeypatch):
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    tf_backend.allow_gpu_memory_growth()
    tf_backend.allow_gpu_memory_growth()


@pytest.fixture
def fake_gpus(monkeypatch):
    """Two fake GPUs for allow_gpu_memory_growth; the calls it makes are recorded."""
    gpus = ["GPU:0", "GPU:1"]
    calls = []
    monkeypatch.setattr(
        tf.config, "list_physical_devices", lambda kind=None: gpus if kind == "GPU" else []
    )
    monkeypatch.setattr(
        tf.config.experimental, "set_memory_growth", lambda gpu, on: calls.append((gpu, on))
    )
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    return calls


@pytest.mark.tensorflow_only
def test_memory_growth_is_asked_for_every_gpu(fake_gpus):
    tf_backend.allow_gpu_memory_growth()
    assert fake_gpus == [("GPU:0", True), ("GPU:1", True)]


@pytest.mark.tensorflow_only
def test_tensorflows_own_growth_switch_decides_when_set(fake_gpus, monkeypatch):
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "false")
    tf_backend.allow_gpu_memory_growth()
    assert fake_gpus == []


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("error", [RuntimeError, ValueError])
def test_memory_growth_leaves_gpus_in_use_or_split_as_they_are(monkeypatch, error):
    def refuse(gpu, on):
        raise error("Physical devices cannot be modified after being initialized")

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"])
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", refuse)
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    tf_backend.allow_gpu_memory_growth()  # must not raise


@pytest.mark.tensorflow_only
def test_fits_and_unpickled_estimators_ask_for_memory_growth(monkeypatch):
    # Search and dask workers receive their estimators by pickling, and fit
    # them or load their models before using a GPU: both paths must ask.
    calls = []
    monkeypatch.setattr(tf_backend, "allow_gpu_memory_growth", lambda: calls.append(1))
    vae = VariationalAutoencoder(epochs=1, random_state=0)
    restored = pickle.loads(pickle.dumps(vae))
    assert len(calls) == 1
    restored.fit(np.random.default_rng(0).random((40, 3)))
    assert len(calls) == 2


@pytest.mark.tensorflow_only
def test_tf_function_still_has_the_switch_for_its_retracing_warning():
    function = tf_backend.per_model_function()(lambda x: x)
    assert function._omit_frequent_tracing_warning is True
    # TensorFlow reads it where it decides to warn.
    from tensorflow.python.eager.polymorphic_function import polymorphic_function

    assert "_omit_frequent_tracing_warning" in open(polymorphic_function.__file__).read()
