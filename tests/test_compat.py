"""Each private upstream name that ``skvae._compat`` relies on still exists.

These are cheap and fail on the exact name when a TensorFlow, Keras or
scikit-learn release moves one, before any training test fails obscurely.
"""

from numbers import Integral

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.utils._param_validation import InvalidParameterError
from tensorflow.python.framework import config as tf_config

from skvae import _compat


def test_op_determinism_switch_exists_and_is_restored():
    for name in ("is_op_determinism_enabled", "enable_op_determinism", "disable_op_determinism"):
        assert callable(getattr(tf_config, name)), name
    before = tf_config.is_op_determinism_enabled()
    with _compat.deterministic_ops():
        assert tf_config.is_op_determinism_enabled()
    assert tf_config.is_op_determinism_enabled() == before


def test_adam_still_has_the_all_reduce_hook_we_override():
    # If Keras renames it, our override silently stops preventing the leak.
    assert "_all_reduce_sum_gradients" in vars(_compat.SingleReplicaAdam)
    assert callable(getattr(keras.optimizers.Adam, "_all_reduce_sum_gradients", None))


def test_single_replica_adam_updates_like_adam():
    def step(optimizer):
        variable = keras.Variable(np.ones(3, np.float32))
        optimizer.apply_gradients([(tf.constant([0.5, -1.0, 2.0]), variable)])
        return variable.numpy()

    np.testing.assert_array_equal(
        step(_compat.SingleReplicaAdam(0.1)), step(keras.optimizers.Adam(0.1))
    )


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


def test_thread_limit_is_a_no_op_once_tensorflow_runs(monkeypatch):
    tf.constant(1.0) + 1.0  # the runtime is initialised from here on
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    _compat.limit_tensorflow_threads()  # must not raise
    monkeypatch.setenv("OMP_NUM_THREADS", "not-a-number")
    _compat.limit_tensorflow_threads()


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
