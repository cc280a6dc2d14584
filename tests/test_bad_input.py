"""Bad input fails loudly and clearly, in every public method.

Each case is a call that must raise the given error with a message naming
the culprit and the expectation, raised by skvae or scikit-learn (never a
Keras or TensorFlow error first), quickly (no hang) and without having
produced NaN output. Cases already in ``test_estimator.py`` are not repeated.
"""

import re
import signal
import types
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

import skvae
from skvae import VariationalAutoencoder

pd = pytest.importorskip("pandas")

TINY = dict(
    epochs=1,
    batch_size=8,
    hidden_layer_sizes=(8,),
    conv_filters=(4, 8),
    conv_strides=(1, 2),
    random_state=0,
)
# Seconds any single case may take before it counts as a hang.
HANG_LIMIT = 60

rng = np.random.default_rng(0)
ROWS = rng.random((30, 4))  # tabular, 4 features -> dense network
IMAGES = rng.random((20, 4, 6, 1))  # 4x6 one-channel images -> conv network


def _with(array, row, column, value):
    array = array.copy()
    array[row, column] = value
    return array


@pytest.fixture(scope="module")
def fitted():
    return types.SimpleNamespace(
        dense=VariationalAutoencoder(**TINY).fit(ROWS),
        conv=VariationalAutoencoder(**TINY).fit(IMAGES),
        unfitted=VariationalAutoencoder(**TINY),
    )


def _fit(X, **params):
    return lambda models: VariationalAutoencoder(**{**TINY, **params}).fit(X)


def _refit(**params):
    """set_params on a fitted estimator, then fit again (on images when conv)."""

    def call(models):
        conv_params = {"conv_filters", "conv_kernels", "conv_strides"}
        model, X = (models.conv, IMAGES) if conv_params & set(params) else (models.dense, ROWS)
        original = model.get_params()
        try:
            return model.set_params(**params).fit(X)
        finally:  # the shared models serve the other cases
            model.set_params(**original)

    return call


def _param_error(name, expectation):
    return rf"The '{name}' parameter of VariationalAutoencoder must be {expectation}"


_REAL_NUMBERS = r"X must contain real numbers only"
_NOT_FITTED = r"This VariationalAutoencoder instance is not fitted yet"
_BEYOND_FLOAT32 = r"X contains values of magnitude up to 1e\+300, beyond the float32 range"

STRINGS = np.array([["a", "b"], ["c", "d"]] * 5)
STRING_FRAME = pd.DataFrame({"height": rng.random(10), "name": ["x"] * 10})
CATEGORY_FRAME = pd.DataFrame({"height": rng.random(10), "kind": pd.Categorical(["x"] * 10)})

# (call on the fitted models, error type, message regex)
CASES = {
    # ------------------------------------------------------------------ fit
    "fit-nan": (_fit(_with(ROWS, 0, 0, np.nan)), ValueError, r"Input X contains NaN"),
    "fit-plus-inf": (_fit(_with(ROWS, 3, 1, np.inf)), ValueError, r"X contains infinity"),
    "fit-minus-inf": (_fit(_with(ROWS, 3, 1, -np.inf)), ValueError, r"X contains infinity"),
    "fit-nan-in-images": (
        _fit(_with(IMAGES, 0, 0, np.nan)),
        ValueError,
        r"Input X contains NaN",
    ),
    "fit-empty": (_fit(np.empty((0, 4))), ValueError, r"0 sample\(s\).*minimum of 1"),
    "fit-zero-features": (_fit(np.empty((10, 0))), ValueError, r"0 feature\(s\).*minimum of 1"),
    "fit-1d": (_fit(ROWS[:, 0]), ValueError, r"Expected 2D array, got 1D array"),
    "fit-3d": (
        _fit(rng.random((10, 3, 3))),
        ValueError,
        r"X must be 2-D \(n_samples, n_features\) or 4-D .* got a 3-D array of shape \(10, 3, 3\)",
    ),
    "fit-5d": (_fit(rng.random((10, 3, 3, 1, 1))), ValueError, r"X must be 2-D .* got a 5-D"),
    "fit-object-strings": (
        _fit(STRINGS.astype(object)),
        ValueError,
        _REAL_NUMBERS + r".*could not convert string to float: 'a'",
    ),
    "fit-unicode-dtype": (_fit(STRINGS), ValueError, _REAL_NUMBERS + r".*string to float"),
    "fit-object-dict": (
        # scikit-learn's check_dtype_object expects this TypeError wording.
        _fit(_with(ROWS.astype(object), 0, 0, {"foo": "bar"})),
        TypeError,
        _REAL_NUMBERS + r".*argument must be .*string.* number",
    ),
    "fit-complex": (
        _fit(ROWS + 1j),
        ValueError,
        r"Complex data not supported: X has a complex dtype.*real numbers",
    ),
    "fit-sparse": (
        _fit(sparse.csr_matrix(ROWS)),
        TypeError,
        r"Sparse data was passed for X, but dense data is required",
    ),
    "fit-ragged-list": (
        _fit([[0.1, 0.2], [0.3]] * 5),
        ValueError,
        r"X is ragged: every row must have the same number of values",
    ),
    # A string or category column is categorical (tests/test_columns.py); one
    # that holds a single value carries nothing to model.
    "fit-frame-string-column": (
        _fit(STRING_FRAME),
        ValueError,
        r"categorical column 'name' has 1 distinct value\(s\) in the training data",
    ),
    "fit-frame-category-column": (
        _fit(CATEGORY_FRAME),
        ValueError,
        r"categorical column 'kind' has 1 distinct value\(s\) in the training data",
    ),
    "fit-beyond-float32": (_fit(_with(ROWS, 2, 2, 1e300)), ValueError, _BEYOND_FLOAT32),
    # ------------------------------------------------------------ transform
    "transform-unfitted": (lambda m: m.unfitted.transform(ROWS), NotFittedError, _NOT_FITTED),
    "transform-feature-count": (
        lambda m: m.dense.transform(rng.random((3, 5))),
        ValueError,
        r"X has 5 features, but VariationalAutoencoder is expecting 4 features",
    ),
    "transform-nan": (
        lambda m: m.dense.transform(_with(ROWS, 1, 1, np.nan)),
        ValueError,
        r"Input X contains NaN",
    ),
    "transform-empty": (
        lambda m: m.dense.transform(np.empty((0, 4))),
        ValueError,
        r"0 sample\(s\)",
    ),
    "transform-1d": (
        lambda m: m.dense.transform(ROWS[0]),
        ValueError,
        r"Expected 2D array, got 1D array",
    ),
    "transform-3d": (
        lambda m: m.conv.transform(IMAGES[..., 0]),
        ValueError,
        r"X must be 2-D .* got a 3-D array of shape \(20, 4, 6\)",
    ),
    "transform-image-height": (
        lambda m: m.conv.transform(rng.random((3, 5, 6, 1))),
        ValueError,
        r"images of shape \(5, 6, 1\), but .* fitted on images of shape \(4, 6, 1\)",
    ),
    "transform-image-width": (
        lambda m: m.conv.transform(rng.random((3, 4, 5, 1))),
        ValueError,
        r"images of shape \(4, 5, 1\), but .* fitted on images of shape \(4, 6, 1\)",
    ),
    "transform-image-channels": (
        lambda m: m.conv.transform(rng.random((3, 4, 6, 3))),
        ValueError,
        r"images of shape \(4, 6, 3\), but .* fitted on images of shape \(4, 6, 1\) "
        r"\(height, width, channels\)",
    ),
    "transform-images-into-tabular-model": (
        lambda m: m.dense.transform(rng.random((3, 2, 2, 1))),
        ValueError,
        r"images of shape \(2, 2, 1\), but .* fitted on 2-D data; pass X of shape "
        r"\(n_samples, 4\)",
    ),
    "transform-frame-string-column": (
        lambda m: m.dense.transform(STRING_FRAME.assign(width=1.0, depth=2.0)),
        ValueError,
        _REAL_NUMBERS + r" \(non-numeric columns: name\)",
    ),
    "transform-beyond-float32": (
        lambda m: m.dense.transform(_with(ROWS, 0, 3, -1e300)),
        ValueError,
        _BEYOND_FLOAT32,
    ),
    "transform-complex": (
        lambda m: m.dense.transform(ROWS + 0j),
        ValueError,
        r"Complex data not supported: X has a complex dtype",
    ),
    # ---------------------------------------------------- inverse_transform
    "inverse-unfitted": (
        lambda m: m.unfitted.inverse_transform(np.zeros((2, 2))),
        NotFittedError,
        _NOT_FITTED,
    ),
    "inverse-latent-width": (
        lambda m: m.conv.inverse_transform(np.zeros((3, 1))),
        ValueError,
        r"X has 1 features, but inverse_transform expects latent_dim=2 columns",
    ),
    "inverse-nan-latent": (
        lambda m: m.dense.inverse_transform(np.array([[0.0, np.nan]])),
        ValueError,
        r"Input X contains NaN",
    ),
    "inverse-inf-latent": (
        lambda m: m.dense.inverse_transform(np.array([[np.inf, 0.0]])),
        ValueError,
        r"Input X contains infinity",
    ),
    "inverse-beyond-float32": (
        lambda m: m.dense.inverse_transform(np.array([[1e300, 0.0]])),
        ValueError,
        _BEYOND_FLOAT32,
    ),
    "inverse-1d": (
        lambda m: m.dense.inverse_transform(np.zeros(2)),
        ValueError,
        r"Expected 2D array, got 1D array",
    ),
    "inverse-3d": (
        lambda m: m.dense.inverse_transform(np.zeros((3, 2, 1))),
        ValueError,
        r"X must be 2-D \(n_samples, latent_dim=2\), got a 3-D array",
    ),
    "inverse-empty": (
        lambda m: m.dense.inverse_transform(np.zeros((0, 2))),
        ValueError,
        r"0 sample\(s\)",
    ),
    "inverse-strings": (
        lambda m: m.dense.inverse_transform(np.array([["a", "b"]])),
        ValueError,
        _REAL_NUMBERS,
    ),
    "inverse-complex": (
        lambda m: m.dense.inverse_transform(np.zeros((2, 2), complex)),
        ValueError,
        r"Complex data not supported",
    ),
    "inverse-sparse": (
        lambda m: m.dense.inverse_transform(sparse.csr_matrix(np.ones((2, 2)))),
        TypeError,
        r"Sparse data was passed for X, but dense data is required",
    ),
    # --------------------------------------------------------------- sample
    "sample-unfitted": (lambda m: m.unfitted.sample(2), NotFittedError, _NOT_FITTED),
    "sample-string": (
        lambda m: m.dense.sample("3"),
        TypeError,
        r"n_samples must be an instance of int, not str",
    ),
    "sample-none": (
        lambda m: m.dense.sample(None),
        TypeError,
        r"n_samples must be an instance of int, not NoneType",
    ),
    "sample-bool": (
        lambda m: m.dense.sample(True),
        TypeError,
        r"n_samples must be an int, not bool",
    ),
    "sample-float-integral-value": (
        lambda m: m.dense.sample(np.float64(2.0)),
        TypeError,
        r"n_samples must be an instance of int, not float",
    ),
    "sample-negative-numpy-int": (
        lambda m: m.dense.sample(np.int64(-1)),
        ValueError,
        r"n_samples == -1, must be >= 1",
    ),
    "sample-bad-random-state": (
        lambda m: m.dense.sample(2, random_state="seed"),
        ValueError,
        r"'seed' cannot be used to seed a numpy.random.RandomState",
    ),
    # -------------------------------------------------------- score_samples
    "score-unfitted": (lambda m: m.unfitted.score_samples(ROWS), NotFittedError, _NOT_FITTED),
    "score-nan": (
        lambda m: m.dense.score_samples(_with(ROWS, 2, 0, np.nan)),
        ValueError,
        r"Input X contains NaN",
    ),
    "score-inf": (
        lambda m: m.dense.score_samples(_with(ROWS, 2, 0, np.inf)),
        ValueError,
        r"Input X contains infinity",
    ),
    "score-feature-count": (
        lambda m: m.conv.score_samples(rng.random((3, 23))),
        ValueError,
        r"X has 23 features, but VariationalAutoencoder is expecting 24 features",
    ),
    "score-image-channels": (
        lambda m: m.conv.score_samples(rng.random((3, 4, 6, 2))),
        ValueError,
        r"images of shape \(4, 6, 2\), but .* fitted on images of shape \(4, 6, 1\)",
    ),
    "score-sparse": (
        lambda m: m.dense.score_samples(sparse.csr_matrix(ROWS)),
        TypeError,
        r"Sparse data was passed for X",
    ),
    "score-list-of-strings": (
        lambda m: m.dense.score([["a", "b", "c", "d"]]),
        ValueError,
        _REAL_NUMBERS + r".*could not convert string to float: 'a'",
    ),
    # ------------------------------------------------- set_params then fit
    "latent_dim-zero": (
        _refit(latent_dim=0),
        InvalidParameterError,
        _param_error("latent_dim", r"an int in the range \[1, inf\)"),
    ),
    "latent_dim-float": (
        _refit(latent_dim=1.5),
        InvalidParameterError,
        _param_error("latent_dim", r"an int in the range \[1, inf\)"),
    ),
    "alpha-negative": (
        _refit(alpha=-1.0),
        InvalidParameterError,
        _param_error("alpha", r"a float in the range \(0.0, inf\)"),
    ),
    "alpha-zero": (_refit(alpha=0), InvalidParameterError, _param_error("alpha", "a float")),
    "alpha-string": (_refit(alpha="big"), InvalidParameterError, _param_error("alpha", "a float")),
    "learning_rate-zero": (
        _refit(learning_rate=0.0),
        InvalidParameterError,
        _param_error("learning_rate", r"a float in the range \(0.0, inf\)"),
    ),
    "learning_rate-inf": (
        _refit(learning_rate=np.inf),
        InvalidParameterError,
        _param_error("learning_rate", "a float"),
    ),
    "epochs-zero": (_refit(epochs=0), InvalidParameterError, _param_error("epochs", "an int")),
    "batch_size-zero": (
        _refit(batch_size=0),
        InvalidParameterError,
        _param_error("batch_size", r"an int in the range \[1, inf\)"),
    ),
    "batch_size-float": (
        _refit(batch_size=2.5),
        InvalidParameterError,
        _param_error("batch_size", "an int"),
    ),
    "validation_fraction-one": (
        _refit(validation_fraction=1.0),
        InvalidParameterError,
        _param_error("validation_fraction", r"a float in the range \[0.0, 1.0\)"),
    ),
    "validation_fraction-negative": (
        _refit(validation_fraction=-0.1),
        InvalidParameterError,
        _param_error("validation_fraction", "a float"),
    ),
    "n_iter_no_change-zero": (
        _refit(n_iter_no_change=0),
        InvalidParameterError,
        _param_error("n_iter_no_change", "an int"),
    ),
    "n_importance_samples-zero": (
        _refit(n_importance_samples=0),
        InvalidParameterError,
        _param_error("n_importance_samples", "an int"),
    ),
    "architecture-unknown": (
        _refit(architecture="cnn"),
        InvalidParameterError,
        _param_error("architecture", r"a str among \{.*'conv'.*\}"),
    ),
    "output_activation-unknown": (
        _refit(output_activation="relu"),
        InvalidParameterError,
        _param_error("output_activation", r"a str among \{.*'sigmoid'.*\}"),
    ),
    "random_state-string": (
        _refit(random_state="seed"),
        InvalidParameterError,
        _param_error("random_state", "an int in the range"),
    ),
    "batch_norm-string": (
        _refit(batch_norm="yes"),
        InvalidParameterError,
        _param_error("batch_norm", "an instance of 'bool'"),
    ),
    "verbose-negative": (
        _refit(verbose=-1),
        InvalidParameterError,
        _param_error("verbose", "an int in the range"),
    ),
    "image_shape-string": (
        _refit(image_shape="2x2"),
        InvalidParameterError,
        _param_error("image_shape", "None, an instance of 'tuple'"),
    ),
    "image_shape-zero-side": (
        _refit(image_shape=(0, 4)),
        ValueError,
        r"image_shape must contain positive ints only, got \(0, 4\)",
    ),
    "image_shape-bool-side": (
        _refit(image_shape=(True, 4)),
        ValueError,
        r"image_shape must contain positive ints only",
    ),
    "image_shape-four-entries": (
        _refit(image_shape=(2, 2, 1, 1)),
        ValueError,
        r"image_shape=\(2, 2, 1, 1\) does not fit X with 4 features: expected \(height, width\)",
    ),
    "image_shape-product-mismatch": (
        _refit(image_shape=(3, 3)),
        ValueError,
        r"image_shape=\(3, 3\) does not fit X with 4 features.*product is 4",
    ),
    "hidden_layer_sizes-int": (
        _refit(hidden_layer_sizes=8),
        InvalidParameterError,
        _param_error("hidden_layer_sizes", "an instance of 'tuple'"),
    ),
    "hidden_layer_sizes-zero": (
        _refit(hidden_layer_sizes=(8, 0)),
        ValueError,
        r"hidden_layer_sizes must contain positive ints only, got \(8, 0\)",
    ),
    "conv_filters-string": (
        _refit(conv_filters="ab"),
        InvalidParameterError,
        _param_error("conv_filters", "an instance of 'tuple'"),
    ),
    "conv_filters-float": (
        _refit(conv_filters=(4, 2.5)),
        ValueError,
        r"conv_filters must contain positive ints only, got \(4, 2.5\)",
    ),
    "conv_kernels-zero": (
        _refit(conv_kernels=0),
        InvalidParameterError,
        _param_error("conv_kernels", r"an int in the range \[1, inf\)"),
    ),
    "conv_kernels-too-few": (
        _refit(conv_kernels=(3,)),
        ValueError,
        r"conv_kernels has 1 entries but conv_filters has 2",
    ),
    "conv_strides-too-many": (
        _refit(conv_strides=(1, 1, 1)),
        ValueError,
        r"conv_strides has 3 entries but conv_filters has 2",
    ),
    "conv_strides-collapse-image": (
        _refit(conv_strides=4),
        ValueError,
        r"conv_strides=4 downsample by 16, more than the smaller side of the 4x6 images",
    ),
}


@pytest.fixture
def hang_guard():
    """Fail a case that runs longer than HANG_LIMIT instead of hanging the suite."""

    def on_alarm(signum, frame):
        raise TimeoutError(f"the call ran longer than {HANG_LIMIT} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(HANG_LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _is_from_keras(error):
    module = type(error).__module__.split(".")[0]
    text = f"{type(error).__name__}: {error}"
    return module in {"keras", "tensorflow", "tf_keras"} or bool(
        re.search(r"keras|tensorflow|Graph execution error|OpKernel", text, re.IGNORECASE)
    )


def test_matrix_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("call, error, message", CASES.values(), ids=CASES.keys())
def test_bad_input_fails_clearly(fitted, hang_guard, call, error, message):
    result = None
    with pytest.raises(error, match=message) as info:
        result = call(fitted)
    assert result is None  # nothing, NaN or not, came back
    chain, cause = [], info.value
    while cause is not None:  # the first error, and everything it was raised from
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    assert not any(_is_from_keras(e) for e in chain), chain


def test_failed_set_params_fit_keeps_the_fitted_model():
    reference = VariationalAutoencoder(**TINY).fit(ROWS)
    model = VariationalAutoencoder(**TINY).fit(ROWS)
    for params in (dict(latent_dim=0), dict(image_shape=(3, 3)), dict(hidden_layer_sizes=(0,))):
        with pytest.raises(ValueError):
            model.set_params(**params).fit(ROWS)
        model.set_params(**TINY, latent_dim=2, image_shape=None)
        np.testing.assert_array_equal(model.transform(ROWS), reference.transform(ROWS))


# Accepted edge cases: they must work and give finite output.


@pytest.mark.parametrize("n_samples", [np.int64(3), np.int32(3), 3])
def test_sample_accepts_numpy_integers(fitted, n_samples):
    samples = fitted.dense.sample(n_samples, random_state=0)
    assert samples.shape == (3, 4)
    assert np.all(np.isfinite(samples))


def test_batch_size_larger_than_data_is_clipped_with_a_warning():
    # Clipped rather than rejected, like MLPClassifier: scikit-learn's common
    # checks fit one-sample data with the estimator's default batch_size.
    X = rng.random((10, 4))
    vae = VariationalAutoencoder(**{**TINY, "batch_size": 64})
    message = r"batch_size=64 is larger than the 9 training samples"
    with pytest.warns(skvae.SkvaeWarning, match=message):
        vae.fit(X)
    assert np.all(np.isfinite(vae.transform(X)))


def test_one_sample_fits_with_a_warning_and_finite_output():
    X = rng.random((1, 4))
    with pytest.warns(UserWarning, match=r"batch_size=8 is larger than the 1 training samples"):
        vae = VariationalAutoencoder(**TINY).fit(X)
    assert np.all(np.isfinite(vae.transform(X)))
    assert np.all(np.isfinite(vae.score_samples(X)))


def test_lists_of_lists_and_bool_arrays_are_numbers(fitted):
    as_list = ROWS.tolist()
    np.testing.assert_array_equal(fitted.dense.transform(as_list), fitted.dense.transform(ROWS))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        latent = fitted.dense.transform(ROWS > 0.5)
    assert np.all(np.isfinite(latent))
