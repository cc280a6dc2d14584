"""skvae.onnx: exported graphs compute what the fitted estimators compute.

Every comparison is against the estimator's own output on the same rows;
the networks are tiny and trained for one or two epochs, which is enough:
the graphs must reproduce whatever weights the networks hold.
"""

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import onnxruntime as ort
import pytest
import skl2onnx
from onnx import TensorProto, helper
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvae import VAEImputer, VariationalAutoencoder, _onnx
from skvae.onnx import to_onnx

# float32 arithmetic in another order (onnxruntime's kernels, not oneDNN's)
# differs by a few ulps; values here are of order 1.
ATOL = 1e-5
SMALL_CONV = {"conv_filters": (4, 8), "conv_strides": (1, 2), "latent_dim": 3}


def run(model, X):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {session.get_inputs()[0].name: X})
    return output


def assert_same(actual, expected, atol=ATOL):
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def rows(X, n_rows):
    """``n_rows`` rows of ``X``, repeated when ``X`` has fewer."""
    return X[np.arange(n_rows) % len(X)]


@pytest.fixture(scope="module")
def digit_images(digits):
    return digits[0]  # float32 rows of 8x8 images in [0, 1]


@pytest.fixture(scope="module")
def table():
    """Breast-cancer features, standardised, float32 (a dense network's input)."""
    X = load_breast_cancer().data
    return ((X - X.mean(axis=0)) / X.std(axis=0)).astype(np.float32)


@pytest.fixture(scope="module", params=["rows", "images"])
def image_vae(request, digit_images):
    """A conv VAE fitted on digits given as 2-D rows or as 4-D images."""
    X = digit_images[:300]
    if request.param == "images":
        X = X.reshape(-1, 8, 8, 1)
    return VariationalAutoencoder(image_shape=(8, 8), epochs=1, random_state=0, **SMALL_CONV).fit(
        X
    )


@pytest.fixture(scope="module")
def table_vae(table):
    return VariationalAutoencoder(
        latent_dim=3, hidden_layer_sizes=(16, 8), batch_norm=True, epochs=1, random_state=0
    ).fit(table)


@pytest.mark.parametrize("n_rows", [1, 1000])
@pytest.mark.parametrize("image_input", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_and_inverse_transform_of_images(
    image_vae, digit_images, image_input, n_rows, dtype
):
    X = rows(digit_images, n_rows).astype(dtype)
    if image_input:
        X = X.reshape(-1, 8, 8, 1)
    Z = run(to_onnx(image_vae, dtype=dtype, image_input=image_input), X)
    assert_same(Z, image_vae.transform(X))
    decoded = run(to_onnx(image_vae, "inverse_transform", dtype=dtype), Z)
    assert_same(decoded, image_vae.inverse_transform(Z))


@pytest.mark.parametrize("n_rows", [1, 1000])
def test_transform_and_inverse_transform_of_a_table(table_vae, table, n_rows):
    X = rows(table, n_rows)
    Z = run(to_onnx(table_vae), X)
    assert_same(Z, table_vae.transform(X))
    decoded = run(to_onnx(table_vae, "inverse_transform"), Z)
    assert_same(decoded, table_vae.inverse_transform(Z))


def test_every_supported_layer_option(digit_images):
    """Multi-channel 4-D images, strides that do not divide the size, BatchNormalization."""
    X = np.random.default_rng(0).random((64, 7, 9, 3)).astype(np.float32)
    conv = VariationalAutoencoder(
        conv_filters=(4, 6, 5),
        conv_kernels=(3, 2, 5),
        conv_strides=(2, 3, 1),
        batch_norm=True,
        epochs=1,
        random_state=0,
    ).fit(X)
    Z = run(to_onnx(conv), X)
    assert_same(Z, conv.transform(X))
    assert_same(run(to_onnx(conv, image_input=False), X.reshape(len(X), -1)), Z)
    assert_same(run(to_onnx(conv, "inverse_transform"), Z), conv.inverse_transform(Z))


def network_graph(model):
    """The ONNX graph of a one-input Keras ``model``, and its output ``_Value``."""
    writer = _onnx._ModelWriter()
    sample_shape = tuple(model.inputs[0].shape[1:])
    output = _onnx._emit_network(writer, model, _onnx._Value("X", sample_shape, "keras"))
    output = _onnx._as_keras(writer, output)
    graph = helper.make_graph(
        writer.nodes,
        "network",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, *sample_shape])],
        [helper.make_tensor_value_info(output.name, TensorProto.FLOAT, None)],
        writer.initializers,
    )
    opsets = [helper.make_opsetid("", _onnx.DEFAULT_OPSET)]
    ir_version = helper.find_min_ir_version_for(opsets)
    return output, helper.make_model(graph, opset_imports=opsets, ir_version=ir_version)


def test_dense_layers_on_images():
    # A dense network on multi-channel images flattens Keras' channels-last order.
    x = np.random.default_rng(0).random((5, 4, 3, 2)).astype(np.float32)
    inputs = keras.Input(x.shape[1:])
    normalization = keras.layers.BatchNormalization()
    hidden = keras.layers.Flatten()(normalization(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(hidden))
    # Non-trivial moving statistics, as after training.
    gamma, beta, mean, variance = np.random.default_rng(1).random((4, 2)).astype(np.float32)
    normalization.set_weights([gamma, beta, mean, 1 + variance])
    _, onnx_model = network_graph(model)
    assert_same(run(onnx_model, x), np.asarray(model(x, training=False)))


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_convolutions_of_every_kernel_and_stride(padding):
    # ONNX ConvTranspose pads differently from Keras: kernels shorter than,
    # equal to and longer than the stride, odd and even, are each checked.
    x = np.random.default_rng(0).random((5, 7, 6, 2)).astype(np.float32)
    for kernel, stride in [(3, 1), (3, 2), (4, 2), (2, 2), (1, 2), (5, 3), (2, 3)]:
        inputs = keras.Input(x.shape[1:])
        conv = keras.layers.Conv2D(3, kernel, strides=stride, padding=padding, activation="tanh")
        transposed = keras.layers.Conv2DTranspose(2, kernel, strides=stride, padding=padding)
        model = keras.Model(inputs, transposed(conv(inputs)))
        output, onnx_model = network_graph(model)
        expected = np.asarray(model(x))
        assert output.shape == expected.shape[1:], (kernel, stride)
        assert_same(run(onnx_model, x), expected)


def test_pipeline_predicts_as_fitted(digit_images, digits):
    y = digits[1]
    X_train, X_test, y_train = digit_images[:1000], digit_images[1000:], y[:1000]
    pipeline = make_pipeline(
        StandardScaler(),
        VariationalAutoencoder(image_shape=(8, 8), epochs=2, random_state=0, **SMALL_CONV),
        LogisticRegression(max_iter=1000),
    ).fit(X_train, y_train)
    # zipmap=False: probabilities as one array rather than a dict per row.
    model = skl2onnx.to_onnx(
        pipeline, X_train[:1], options={LogisticRegression: {"zipmap": False}}
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(None, {"X": X_test})
    np.testing.assert_array_equal(labels, pipeline.predict(X_test))
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(X_test), atol=ATOL)


def test_served_in_a_fresh_interpreter_without_tensorflow(image_vae, digit_images, tmp_path):
    X = (
        digit_images[:50].reshape(-1, 8, 8, 1)
        if image_vae._layout.outputs_images
        else (digit_images[:50])
    )
    (tmp_path / "vae.onnx").write_bytes(to_onnx(image_vae).SerializeToString())
    np.save(tmp_path / "X.npy", X)
    serve = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        import onnxruntime as ort
        session = ort.InferenceSession("vae.onnx", providers=["CPUExecutionProvider"])
        (Z,) = session.run(None, {"X": np.load("X.npy")})
        np.save("Z.npy", Z)
        print(json.dumps(sorted(m for m in ("tensorflow", "keras", "skvae") if m in sys.modules)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", serve], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []
    assert_same(np.load(tmp_path / "Z.npy"), image_vae.transform(X))


def test_only_skvae_onnx_imports_the_converters():
    # `import skvae` and the estimators must work where the onnx extra is
    # absent: only skvae.onnx (and its _onnx) may import onnx or skl2onnx,
    # and no other module imports them.
    package = Path(_onnx.__file__).parent
    for path in package.glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                imported.add(("." * node.level) + module.split(".")[0])
                if node.level and not module:
                    imported.update("." + alias.name for alias in node.names)
        if path.stem not in ("onnx", "_onnx"):
            assert not imported & {"onnx", "skl2onnx", "onnxruntime", ".onnx", "._onnx"}, path


@pytest.fixture(scope="module")
def incomplete_digits(digit_images):
    X = digit_images[:300].astype(np.float64)
    X[np.random.default_rng(0).random(X.shape) < 0.2] = np.nan
    X[:, 0] = np.nan  # a feature never observed
    return X


def single_pass_reference(imputer, X):
    """Decoder mean at the encoder mean, from the Keras models, filling NaN only."""
    x = X.reshape(-1, *imputer.image_shape_).astype(np.float32)
    mu, _ = imputer.encoder_(x, training=False)
    decoded = np.asarray(imputer.decoder_(mu, training=False)).reshape(X.shape)
    return np.where(np.isnan(X), decoded, X)


@pytest.fixture(scope="module")
def imputer(incomplete_digits):
    return VAEImputer(
        image_shape=(8, 8), add_indicator=True, epochs=1, random_state=0, **SMALL_CONV
    ).fit(incomplete_digits)


def test_imputer_exports_the_single_pass_conditional_mean(imputer, incomplete_digits):
    X = incomplete_digits
    imputed = run(to_onnx(imputer, dtype=np.float64, imputation="single_pass"), X)
    expected = imputer.transform(X)
    assert imputed.shape == expected.shape and not np.isnan(imputed).any()
    # Same columns as transform: feature 0 (never observed) is dropped, the
    # indicator appended; observed entries pass through unchanged.
    reference = single_pass_reference(imputer, X)[:, 1:]
    np.testing.assert_allclose(imputed[:, :63], reference, rtol=0, atol=ATOL)
    observed = ~np.isnan(X[:, 1:])
    np.testing.assert_array_equal(imputed[:, :63][observed], expected[:, :63][observed])
    np.testing.assert_array_equal(imputed[:, 63:], expected[:, 63:])
    with pytest.raises(ValueError, match="imputation='single_pass'"):
        to_onnx(imputer)


def test_imputer_in_a_pipeline_needs_the_single_pass_option(imputer, incomplete_digits, digits):
    X, y = incomplete_digits, digits[1][: len(incomplete_digits)]
    classifier = LogisticRegression(max_iter=200).fit(imputer.transform(X), y)
    pipeline = make_pipeline(imputer, classifier)
    with pytest.raises(ValueError, match="imputation='single_pass'"):
        skl2onnx.to_onnx(pipeline, X[:1])
    model = skl2onnx.to_onnx(
        pipeline,
        X[:1],
        options={VAEImputer: {"imputation": "single_pass"}, LogisticRegression: {"zipmap": False}},
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    _, probabilities = session.run(None, {"X": X})
    completed = single_pass_reference(imputer, X)[:, 1:]
    indicator = imputer.indicator_.transform(X).astype(np.float64)
    np.testing.assert_allclose(
        probabilities,
        classifier.predict_proba(np.hstack([completed, indicator])),
        rtol=0,
        atol=ATOL,
    )


def test_uint8_input_is_scaled_as_fit_scaled_it(digit_images):
    X = (digit_images[:200] * 255).astype(np.uint8)
    vae = VariationalAutoencoder(image_shape=(8, 8), epochs=1, random_state=0, **SMALL_CONV).fit(X)
    Z = run(to_onnx(vae, dtype=np.uint8), X)
    assert_same(Z, vae.transform(X))
    # Decoded values are back in 0-255: the same float32 precision is 255 times larger.
    assert_same(
        run(to_onnx(vae, "inverse_transform"), Z.astype(np.float32)),
        vae.inverse_transform(Z.astype(np.float32)),
        atol=255 * ATOL,
    )


def test_errors(table_vae, monkeypatch):
    with pytest.raises(NotFittedError):
        to_onnx(VariationalAutoencoder())
    with pytest.raises(TypeError, match="VariationalAutoencoder or VAEImputer"):
        to_onnx(StandardScaler())
    with pytest.raises(ValueError, match="method must be one of"):
        to_onnx(table_vae, "predict")
    with pytest.raises(ValueError, match="dtype must be one of"):
        to_onnx(table_vae, "inverse_transform", dtype=np.uint8)
    with pytest.raises(ValueError, match="image_input=True"):
        to_onnx(table_vae, image_input=True)
    with pytest.raises(ValueError, match="target_opset"):
        to_onnx(table_vae, target_opset=9)
    inputs = keras.Input((30,))
    unsupported = keras.Model(inputs, [keras.layers.LayerNormalization()(inputs)] * 2)
    monkeypatch.setattr(table_vae, "encoder_", unsupported)
    with pytest.raises(TypeError, match="LayerNormalization"):
        to_onnx(table_vae)
