"""ONNX graphs of fitted estimators, built from the networks' weights.

Each Keras layer of the fitted encoder and decoder becomes a few standard
ONNX nodes (``Conv``, ``ConvTranspose``, ``Gemm``, activations, reshapes),
the way skl2onnx converts ``MLPClassifier``: no TensorFlow graph is
exported, so serving needs only onnxruntime. The layers are walked by type,
and an unknown type is refused rather than guessed at.

Keras keeps images channels-last (NHWC), ONNX convolutions channels-first
(NCHW). Every tensor of the graph therefore carries the order its values
are in (:class:`_Value`); a layer asks for the order it needs, and a
``Transpose`` is emitted only where the order changes. A one-channel image
needs no ``Transpose`` (both orders hold the same values, a ``Reshape``
relabels them), and a ``Flatten`` of a channels-first tensor is never
transposed back: the ``Dense`` kernel that reads it is permuted instead.

The same emitting code writes a standalone ``onnx.ModelProto``
(:func:`to_onnx`) or the nodes of a skl2onnx conversion
(:func:`register_converters`), through the two writers below.
"""

import dataclasses
import math
from numbers import Real

import keras
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.utils.validation import check_is_fitted

from ._estimator import VariationalAutoencoder
from ._fitted_state import fitted_values
from ._imputer import VAEImputer
from ._model import Clip, FillMissing

#: The opset of standalone graphs: every operator used here has had its
#: current form since opset 13, which onnxruntime has run since 1.7.
DEFAULT_OPSET = 15
MIN_OPSET = 13
METHODS = ("transform", "inverse_transform")
IMPUTATIONS = ("single_pass",)

_ONNX_TYPES = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.uint8): TensorProto.UINT8,
}
# The activations that Keras layers may name, as ONNX operators (None: identity).
_ACTIVATIONS = {
    "linear": None,
    "relu": "Relu",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "softplus": "Softplus",
}


# ----------------------------------------------------------- fitted state


@dataclasses.dataclass(frozen=True)
class _FittedParts:
    """What the graphs need from a fitted estimator."""

    encoder: keras.Model
    decoder: keras.Model
    n_features: int
    image_shape: tuple | None
    outputs_images: bool
    input_scale: float
    latent_dim: int
    # The imputer's: its missing-value marker, the features never observed
    # at fit, whether they are kept, and the indicator's features (or None).
    missing_values: float = np.nan
    empty_features: np.ndarray | None = None
    keep_empty_features: bool = True
    indicator_features: np.ndarray | None = None


def _fitted_parts(estimator):
    """The fitted networks and layout of ``estimator``.

    Read through the one description of the fitted state
    (``_fitted_state``), so that a rename inside skvae is a change there only.
    """
    if not isinstance(estimator, (VariationalAutoencoder, VAEImputer)):
        raise TypeError(
            "estimator must be a skvae VariationalAutoencoder or VAEImputer, "
            f"got {type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    state = fitted_values(estimator)
    layout = state["layout"]
    if layout.columns is not None:
        # The graphs take and give numbers; a mixed table's encoding and
        # decoding (one-hot, categories, dtypes) live in pandas, outside them.
        raise ValueError(
            "A model fitted on a DataFrame with categorical columns cannot be converted "
            "to ONNX yet."
        )
    parts = {
        "encoder": state["encoder"],
        "decoder": state["decoder"],
        "n_features": layout.n_features,
        "image_shape": layout.image_shape,
        "outputs_images": layout.outputs_images,
        "input_scale": float(layout.input_scale),
        "latent_dim": int(state["decoder"].input_shape[-1]),
    }
    if isinstance(estimator, VAEImputer):
        indicator = state["indicator"]
        parts.update(
            missing_values=state["missing_values"],
            empty_features=np.asarray(state["empty_features"], dtype=bool),
            keep_empty_features=bool(state["keep_empty_features"]),
            indicator_features=None if indicator is None else np.asarray(indicator.features_),
        )
    return _FittedParts(**parts)


# ---------------------------------------------------------------- writers


class _ModelWriter:
    """Collects nodes and initializers for a standalone ``onnx.ModelProto``."""

    def __init__(self):
        self.nodes = []
        self.initializers = []
        self._names = set()

    def unique(self, hint):
        name, i = hint, 0
        while name in self._names:
            i += 1
            name = f"{hint}_{i}"
        self._names.add(name)
        return name

    def constant(self, hint, array):
        name = self.unique(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op_type, inputs, hint=None, output=None, **attributes):
        output = output or self.unique(hint or op_type.lower())
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), [output], name=self.unique(f"{op_type}_node"), **attributes
            )
        )
        return output


class _Skl2OnnxWriter:
    """Adds nodes and initializers to a skl2onnx conversion (its scope and container)."""

    def __init__(self, scope, container):
        self.scope = scope
        self.container = container

    def constant(self, hint, array):
        name = self.scope.get_unique_variable_name(hint)
        tensor = numpy_helper.from_array(np.asarray(array), name)
        self.container.add_initializer(name, tensor.data_type, list(tensor.dims), tensor)
        return name

    def node(self, op_type, inputs, hint=None, output=None, **attributes):
        output = output or self.scope.get_unique_variable_name(hint or op_type.lower())
        self.container.add_node(
            op_type,
            list(inputs),
            [output],
            name=self.scope.get_unique_operator_name(f"skvae_{op_type}"),
            **attributes,
        )
        return output


# ------------------------------------------------------- tensor orders


@dataclasses.dataclass(frozen=True)
class _Value:
    """A tensor of the graph, and how its values relate to the Keras tensor.

    ``shape`` is the Keras shape of one sample. ``order``:

    * ``"keras"``: the ONNX tensor is ``(n, *shape)``, as in Keras;
    * ``"keras_flat"``: ``(n, prod(shape))``, the Keras sample in row-major
      order (a 2-D row of an image);
    * ``"nchw"``: ``(n, channels, height, width)`` for ``shape``
      ``(height, width, channels)``;
    * ``"chw_flat"``: ``(n, prod(shape))`` for a Keras ``Flatten`` output
      ``shape``, whose values are those of the channels-first ``image``
      ``(height, width, channels)`` flattened.
    """

    name: str
    shape: tuple
    order: str
    image: tuple | None = None


def _shape_constant(writer, shape):
    return writer.constant("shape", np.array(shape, dtype=np.int64))


def _reshape(writer, name, shape):
    return writer.node("Reshape", [name, _shape_constant(writer, shape)], "reshaped")


def _as_nchw(writer, value):
    """``value`` (an image) as a channels-first tensor."""
    if value.order == "nchw":
        return value
    if len(value.shape) != 3:
        raise ValueError(f"Expected an image tensor (height, width, channels), got {value.shape}.")
    height, width, channels = value.shape
    if value.order == "chw_flat":
        value = _as_keras(writer, value)
    if channels == 1:  # one channel: both orders hold the same values
        return _Value(_reshape(writer, value.name, [-1, 1, height, width]), value.shape, "nchw")
    name = value.name
    if value.order == "keras_flat":
        name = _reshape(writer, name, [-1, height, width, channels])
    name = writer.node("Transpose", [name], "nchw", perm=[0, 3, 1, 2])
    return _Value(name, value.shape, "nchw")


def _as_keras(writer, value):
    """``value`` as the ONNX tensor ``(n, *shape)`` that Keras holds."""
    if value.order == "keras":
        return value
    if value.order == "keras_flat":
        return _Value(_reshape(writer, value.name, [-1, *value.shape]), value.shape, "keras")
    if value.order == "chw_flat":
        height, width, channels = value.image
        image = _Value(
            _reshape(writer, value.name, [-1, channels, height, width]), value.image, "nchw"
        )
        image = _as_keras(writer, image)
        return _Value(_reshape(writer, image.name, [-1, *value.shape]), value.shape, "keras")
    height, width, channels = value.shape  # nchw
    if channels == 1:
        return _Value(_reshape(writer, value.name, [-1, *value.shape]), value.shape, "keras")
    name = writer.node("Transpose", [value.name], "nhwc", perm=[0, 2, 3, 1])
    return _Value(name, value.shape, "keras")


def _as_rows(writer, value):
    """``value`` as 2-D rows ``(n, prod(shape))`` in Keras' row-major order."""
    if value.order == "keras_flat" or (value.order == "keras" and len(value.shape) == 1):
        return value
    value = _as_keras(writer, value)
    if len(value.shape) == 1:
        return value
    return _Value(
        _reshape(writer, value.name, [-1, math.prod(value.shape)]), value.shape, "keras_flat"
    )


# ---------------------------------------------------------------- layers


def _config(layer, key, expected, what):
    value = layer.get_config().get(key, expected)
    if isinstance(value, list):
        value = tuple(value)
    if value != expected:
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) has {key}={value!r}; "
            f"ONNX export supports {what} only."
        )


def _activation(writer, layer, name, activation=None):
    activation = activation or layer.get_config()["activation"]
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"Layer {layer.name!r} uses the activation {activation!r}; ONNX export "
            f"supports {sorted(_ACTIVATIONS)}."
        )
    op_type = _ACTIVATIONS[activation]
    return name if op_type is None else writer.node(op_type, [name], activation)


def _same_padding(size, kernel, stride):
    """TensorFlow's ``same`` padding (before, after) of one axis, and the output size."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


def _check_conv(layer):
    _config(layer, "data_format", "channels_last", "channels_last")
    _config(layer, "dilation_rate", (1, 1), "dilation_rate=(1, 1)")
    padding = layer.get_config()["padding"]
    if padding not in ("same", "valid"):
        raise ValueError(f"Layer {layer.name!r} has padding={padding!r}; expected same or valid.")
    return padding


def _conv2d(writer, layer, value):
    padding = _check_conv(layer)
    _config(layer, "groups", 1, "groups=1")
    kernel_height, kernel_width, _, filters = layer.get_weights()[0].shape
    stride_height, stride_width = layer.get_config()["strides"]
    height, width, _ = value.shape
    if padding == "same":
        top, bottom, out_height = _same_padding(height, kernel_height, stride_height)
        left, right, out_width = _same_padding(width, kernel_width, stride_width)
    else:
        top = bottom = left = right = 0
        out_height = (height - kernel_height) // stride_height + 1
        out_width = (width - kernel_width) // stride_width + 1
    return _convolution_node(
        writer,
        "Conv",
        layer,
        value,
        pads=[top, left, bottom, right],
        output_shape=(out_height, out_width, filters),
    )


def _transposed_padding(size, kernel, stride, padding):
    """ONNX ``ConvTranspose`` (pad before, pad after, output_padding) of one axis.

    ONNX's output is ``stride * (size - 1) + output_padding + kernel - pads``;
    Keras' is ``size * stride`` for ``same`` and ``size * stride +
    max(kernel - stride, 0)`` for ``valid``. Where the kernel is shorter
    than the stride, the positions no kernel reaches come last
    (``output_padding``). ``same`` crops the excess as TensorFlow pads the
    forward convolution: the larger half at the end.
    """
    if padding == "valid":
        return 0, 0, max(stride - kernel, 0)
    excess = kernel - stride
    if excess < 0:
        return 0, 0, -excess
    return excess // 2, excess - excess // 2, 0


def _conv2d_transpose(writer, layer, value):
    padding = _check_conv(layer)
    _config(layer, "output_padding", None, "output_padding=None")
    kernel_height, kernel_width, filters, _ = layer.get_weights()[0].shape
    stride_height, stride_width = layer.get_config()["strides"]
    height, width, _ = value.shape
    top, bottom, extra_height = _transposed_padding(height, kernel_height, stride_height, padding)
    left, right, extra_width = _transposed_padding(width, kernel_width, stride_width, padding)
    out_height = stride_height * (height - 1) + extra_height + kernel_height - top - bottom
    out_width = stride_width * (width - 1) + extra_width + kernel_width - left - right
    return _convolution_node(
        writer,
        "ConvTranspose",
        layer,
        value,
        pads=[top, left, bottom, right],
        output_shape=(out_height, out_width, filters),
        output_padding=[extra_height, extra_width],
    )


def _convolution_node(writer, op_type, layer, value, *, pads, output_shape, **attributes):
    """A ``Conv`` or ``ConvTranspose`` node of ``layer``'s weights, then its activation.

    Both Keras kernels transpose to ONNX's by the same axes: Conv2D's
    ``(kh, kw, in, out)`` to ``(out, in, kh, kw)``, Conv2DTranspose's
    ``(kh, kw, out, in)`` to ``(in, out, kh, kw)``.
    """
    kernel, *bias = layer.get_weights()
    inputs = [
        _as_nchw(writer, value).name,
        writer.constant(f"{layer.name}_W", kernel.transpose(3, 2, 0, 1)),
    ]
    if bias:
        inputs.append(writer.constant(f"{layer.name}_B", bias[0]))
    name = writer.node(
        op_type,
        inputs,
        layer.name,
        kernel_shape=list(kernel.shape[:2]),
        strides=list(layer.get_config()["strides"]),
        pads=pads,
        **attributes,
    )
    return _Value(_activation(writer, layer, name), output_shape, "nchw")


def _dense(writer, layer, value):
    kernel, *bias = layer.get_weights()
    if value.order == "chw_flat":
        # Read the channels-first flattening directly: row c*H*W + h*W + w
        # of the permuted kernel is row (h*W + w)*C + c of Keras' kernel.
        height, width, channels = value.image
        kernel = kernel.reshape(height, width, channels, -1).transpose(2, 0, 1, 3)
        kernel = kernel.reshape(height * width * channels, -1)
    else:
        value = _as_rows(writer, value)
        if len(value.shape) != 1:
            raise ValueError(
                f"Layer {layer.name!r} (Dense) reads a {len(value.shape)}-D sample; "
                "ONNX export supports Dense layers on flat inputs only."
            )
    if not bias:
        bias = [np.zeros(kernel.shape[1], dtype=kernel.dtype)]
    name = writer.node(
        "Gemm",
        [
            value.name,
            writer.constant(f"{layer.name}_W", kernel),
            writer.constant(f"{layer.name}_B", bias[0]),
        ],
        layer.name,
    )
    return _Value(_activation(writer, layer, name), (kernel.shape[1],), "keras")


def _flatten(writer, layer, value):
    _config(layer, "data_format", "channels_last", "channels_last")
    flat_shape = (math.prod(value.shape),)
    if value.order == "nchw":
        name = writer.node("Flatten", [value.name], layer.name, axis=1)
        return _Value(name, flat_shape, "chw_flat", image=value.shape)
    if value.order == "chw_flat":
        return value
    return dataclasses.replace(_as_rows(writer, value), shape=flat_shape, order="keras")


def _reshape_layer(writer, layer, value):
    target = tuple(layer.get_config()["target_shape"])
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        target = tuple(math.prod(value.shape) // known if d == -1 else d for d in target)
    rows = _as_rows(writer, value)
    # A Keras reshape relabels the row-major values: rows are reshaped lazily.
    return _Value(rows.name, target, "keras_flat" if len(target) > 1 else "keras")


def _cropping2d(writer, layer, value):
    _config(layer, "data_format", "channels_last", "channels_last")
    (top, bottom), (left, right) = layer.get_config()["cropping"]
    height, width, channels = value.shape
    if value.order != "nchw":
        value = _as_keras(writer, value)
    axes = [2, 3] if value.order == "nchw" else [1, 2]
    name = writer.node(
        "Slice",
        [
            value.name,
            writer.constant("starts", np.array([top, left], dtype=np.int64)),
            writer.constant("ends", np.array([height - bottom, width - right], dtype=np.int64)),
            writer.constant("axes", np.array(axes, dtype=np.int64)),
        ],
        layer.name,
    )
    return _Value(name, (height - top - bottom, width - left - right, channels), value.order)


def _activation_layer(writer, layer, value):
    return dataclasses.replace(value, name=_activation(writer, layer, value.name))


def _batch_normalization(writer, layer, value):
    axis = layer.get_config()["axis"]
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if axis not in (-1, len(value.shape)):
        raise ValueError(
            f"Layer {layer.name!r} normalises axis {axis}; ONNX export supports the "
            "channel (last) axis only."
        )
    # Inference mode, as tf.nn.batch_normalization computes it: x * scale + shift.
    scale = 1.0 / np.sqrt(layer.moving_variance.numpy() + np.float32(layer.epsilon))
    if layer.scale:
        scale = scale * layer.gamma.numpy()
    shift = -layer.moving_mean.numpy() * scale
    if layer.center:
        shift = shift + layer.beta.numpy()
    if value.order in ("keras_flat", "chw_flat"):
        value = _as_keras(writer, value)
    if value.order == "nchw":
        scale, shift = scale[:, None, None], shift[:, None, None]
    scale, shift = scale.astype(np.float32), shift.astype(np.float32)
    name = writer.node("Mul", [value.name, writer.constant(f"{layer.name}_scale", scale)])
    name = writer.node("Add", [name, writer.constant(f"{layer.name}_shift", shift)], layer.name)
    return dataclasses.replace(value, name=name)


def _clip(writer, layer, value):
    low = writer.constant("low", np.float32(layer.low))
    high = writer.constant("high", np.float32(layer.high))
    return dataclasses.replace(value, name=writer.node("Clip", [value.name, low, high]))


def _fill_missing(writer, layer, value):
    """NaN entries as 0, and with ``with_mask`` the 0/1 mask of observed ones on the last axis."""
    if len(value.shape) == 3:
        value = _as_nchw(writer, value)
    elif value.order != "keras":
        value = _as_keras(writer, value)
    missing = writer.node("IsNaN", [value.name], "missing")
    zero = writer.constant("zero", np.float32(0.0))
    filled = writer.node("Where", [missing, zero, value.name], "filled")
    if not layer.with_mask:
        return dataclasses.replace(value, name=filled)
    observed = writer.node("Not", [missing], "observed")
    mask = writer.node("Cast", [observed], "mask", to=TensorProto.FLOAT)
    shape = (*value.shape[:-1], 2 * value.shape[-1])
    name = writer.node(
        "Concat", [filled, mask], "filled_and_mask", axis=1 if value.order == "nchw" else -1
    )
    return _Value(name, shape, value.order)


_LAYERS = {
    keras.layers.Conv2D: _conv2d,
    keras.layers.Conv2DTranspose: _conv2d_transpose,
    keras.layers.Dense: _dense,
    keras.layers.Flatten: _flatten,
    keras.layers.Reshape: _reshape_layer,
    keras.layers.Cropping2D: _cropping2d,
    keras.layers.Activation: _activation_layer,
    keras.layers.BatchNormalization: _batch_normalization,
    Clip: _clip,
    FillMissing: _fill_missing,
}


def _emit_network(writer, model, value, output_index=0):
    """Nodes computing output ``output_index`` of the Keras ``model`` from ``value``.

    Only the layers that output depends on are emitted (``transform``
    needs the encoder's ``mu``, not its ``log_var``).
    """
    producers = {id(layer.output): layer for layer in model.layers}
    needed, pending = set(), [model.outputs[output_index]]
    while pending:
        layer = producers[id(pending.pop())]
        if id(layer) not in needed and not isinstance(layer, keras.layers.InputLayer):
            needed.add(id(layer))
            pending.append(layer.input)
    values = {id(model.inputs[0]): value}
    for layer in model.layers:  # topological order
        if id(layer) not in needed:
            continue
        emit = _LAYERS.get(type(layer))
        if emit is None:
            raise TypeError(
                f"Cannot export layer {layer.name!r} of type {type(layer).__name__} to "
                f"ONNX; supported layer types: {sorted(cls.__name__ for cls in _LAYERS)}."
            )
        values[id(layer.output)] = emit(writer, layer, values[id(layer.input)])
    return values[id(model.outputs[output_index])]


# ---------------------------------------------------------------- methods


def _check_dtype(dtype, allowed, method):
    dtype = np.dtype(dtype)
    if dtype not in allowed:
        raise ValueError(
            f"dtype must be one of {[d.name for d in allowed]} for {method}, got {dtype.name}."
        )
    return dtype


def _scaled_input(writer, parts, name, dtype):
    """The graph input as the float32 values the networks read (``X / input_scale``)."""
    if dtype != np.float32:
        name = writer.node("Cast", [name], "x_float", to=TensorProto.FLOAT)
    if parts.input_scale != 1.0:
        scale = writer.constant("input_scale", np.float32(parts.input_scale))
        name = writer.node("Div", [name, scale], "x_scaled")
    return name


def _sample_value(parts, name, image_input):
    if image_input:
        return _Value(name, parts.image_shape, "keras")
    if parts.image_shape is None:
        return _Value(name, (parts.n_features,), "keras")
    return _Value(name, parts.image_shape, "keras_flat")


def _output(writer, name, output_dtype, output):
    if output_dtype != np.float32:
        return writer.node("Cast", [name], output=output, to=_ONNX_TYPES[output_dtype])
    return writer.node("Identity", [name], output=output)


def _emit_transform(writer, parts, input_name, dtype, image_input, output):
    """``transform``: the encoder's mean ``mu``, float32 for float32 input, else float64."""
    x = _sample_value(parts, _scaled_input(writer, parts, input_name, dtype), image_input)
    mu = _emit_network(writer, parts.encoder, x, output_index=0)
    return _output(
        writer, mu.name, np.dtype(np.float32 if dtype == np.float32 else np.float64), output
    )


def _decoded(writer, parts, latent_name, images):
    """Decoder means in the user's units (``* input_scale``), as rows or images."""
    x_hat = _emit_network(writer, parts.decoder, _Value(latent_name, (parts.latent_dim,), "keras"))
    x_hat = _as_keras(writer, x_hat) if images else _as_rows(writer, x_hat)
    name = x_hat.name
    if parts.input_scale != 1.0:
        scale = writer.constant("output_scale", np.float32(parts.input_scale))
        name = writer.node("Mul", [name, scale], "x_hat_scaled")
    return name


def _emit_inverse_transform(writer, parts, input_name, dtype, output):
    """``inverse_transform``: decoder means in the layout ``fit`` received."""
    latent = input_name
    if dtype != np.float32:
        latent = writer.node("Cast", [latent], "z_float", to=TensorProto.FLOAT)
    name = _decoded(writer, parts, latent, images=parts.outputs_images)
    return _output(writer, name, dtype, output)


def _emit_single_pass_imputation(writer, parts, input_name, dtype, image_input, output):
    """The imputer's single-pass conditional mean: ``decoder(mu(x_obs))`` fills the missing."""
    onnx_type = _ONNX_TYPES[dtype]
    if _is_nan(parts.missing_values):
        missing = writer.node("IsNaN", [input_name], "missing_entries")
        x = input_name
    else:
        marker = writer.constant("missing_values", np.array(parts.missing_values, dtype=dtype))
        missing = writer.node("Equal", [input_name, marker], "missing_entries")
        nan = writer.constant("nan", np.array(np.nan, dtype=dtype))
        x = writer.node("Where", [missing, nan, input_name], "x_nan")
    x_model = _sample_value(parts, _scaled_input(writer, parts, x, dtype), image_input)
    mu = _emit_network(writer, parts.encoder, x_model, output_index=0)
    x_hat = _decoded(writer, parts, mu.name, images=image_input)
    if dtype != np.float32:
        x_hat = writer.node("Cast", [x_hat], "x_hat_cast", to=onnx_type)
    completed = writer.node("Where", [missing, x_hat, input_name], "completed")
    empty = parts.empty_features
    if empty.any():
        # As VAEImputer does: a feature never observed at fit is imputed with 0.
        empty_shape = parts.image_shape if image_input else (parts.n_features,)
        is_empty = writer.constant("empty_features", empty.reshape(empty_shape))
        fill = writer.node("And", [missing, is_empty], "missing_in_empty_features")
        zero = writer.constant("zero_fill", np.array(0, dtype=dtype))
        completed = writer.node("Where", [fill, zero, completed], "completed_empty")
    if not image_input:
        if not parts.keep_empty_features and empty.any():
            kept = writer.constant("kept_features", np.flatnonzero(~empty).astype(np.int64))
            completed = writer.node("Gather", [completed, kept], "kept", axis=1)
        if parts.indicator_features is not None:
            columns = writer.constant(
                "indicator_features", parts.indicator_features.astype(np.int64)
            )
            indicator = writer.node("Gather", [missing, columns], "indicator_mask", axis=1)
            indicator = writer.node("Cast", [indicator], "indicator", to=onnx_type)
            completed = writer.node("Concat", [completed, indicator], "with_indicator", axis=1)
    return writer.node("Identity", [completed], output=output)


def _is_nan(value):
    return isinstance(value, Real) and math.isnan(value)


def _n_imputed_features(parts):
    n_features = parts.n_features
    if not parts.keep_empty_features:
        n_features -= int(parts.empty_features.sum())
    if parts.indicator_features is not None:
        n_features += len(parts.indicator_features)
    return n_features


def _check_image_input(parts, image_input, what):
    if image_input and parts.image_shape is None:
        raise ValueError(
            f"image_input=True needs an estimator fitted on images, but {what} was "
            "fitted on a table (image_shape_ is None)."
        )


def _check_imputation(estimator, imputation):
    if not isinstance(estimator, VAEImputer):
        return
    if imputation not in IMPUTATIONS:
        raise ValueError(
            "VAEImputer.transform imputes with seeded importance sampling, whose draws "
            "ONNX cannot reproduce; pass imputation='single_pass' to export the "
            "single-pass conditional mean (the decoder's mean at the encoder's mean, "
            f"filling the missing entries only), got imputation={imputation!r}."
        )


# ------------------------------------------------------------- standalone


def to_onnx(
    estimator,
    method="transform",
    *,
    dtype=np.float32,
    image_input=None,
    imputation=None,
    target_opset=None,
):
    """See :func:`skvae.onnx.to_onnx`."""
    parts = _fitted_parts(estimator)
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}.")
    if isinstance(estimator, VAEImputer) and method != "transform":
        raise ValueError(f"VAEImputer exports method='transform' only, got {method!r}.")
    _check_imputation(estimator, imputation)
    opset = DEFAULT_OPSET if target_opset is None else target_opset
    if not isinstance(opset, int) or isinstance(opset, bool) or opset < MIN_OPSET:
        raise ValueError(f"target_opset must be an int >= {MIN_OPSET}, got {target_opset!r}.")
    if image_input is None:
        image_input = parts.outputs_images
    _check_image_input(parts, image_input, type(estimator).__name__)
    writer = _ModelWriter()
    input_name, output_name = writer.unique("X"), writer.unique("Y")
    if method == "inverse_transform":
        dtype = _check_dtype(dtype, (np.dtype(np.float32), np.dtype(np.float64)), method)
        input_shape = [None, parts.latent_dim]
        _emit_inverse_transform(writer, parts, input_name, dtype, output_name)
        output_dtype = dtype
        sample = parts.image_shape if parts.outputs_images else (parts.n_features,)
        output_shape = [None, *sample]
    elif isinstance(estimator, VAEImputer):
        dtype = _check_dtype(dtype, (np.dtype(np.float32), np.dtype(np.float64)), method)
        if image_input and parts.indicator_features is not None:
            raise ValueError(
                "This imputer appends indicator columns (add_indicator=True), which 4-D "
                "images do not have; export it with image_input=False."
            )
        input_shape = [None, *(parts.image_shape if image_input else (parts.n_features,))]
        _emit_single_pass_imputation(writer, parts, input_name, dtype, image_input, output_name)
        output_dtype = dtype
        output_shape = input_shape if image_input else [None, _n_imputed_features(parts)]
    else:
        dtype = _check_dtype(dtype, tuple(_ONNX_TYPES), method)
        input_shape = [None, *(parts.image_shape if image_input else (parts.n_features,))]
        _emit_transform(writer, parts, input_name, dtype, image_input, output_name)
        output_dtype = np.dtype(np.float32 if dtype == np.float32 else np.float64)
        output_shape = [None, parts.latent_dim]
    graph = helper.make_graph(
        writer.nodes,
        f"skvae_{type(estimator).__name__}_{method}",
        [helper.make_tensor_value_info(input_name, _ONNX_TYPES[dtype], input_shape)],
        [helper.make_tensor_value_info(output_name, _ONNX_TYPES[output_dtype], output_shape)],
        writer.initializers,
    )
    opset_imports = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        graph,
        opset_imports=opset_imports,
        ir_version=helper.find_min_ir_version_for(opset_imports),
        producer_name="skvae",
    )
    onnx.checker.check_model(model)
    return model


# -------------------------------------------------------------- skl2onnx


def _skl2onnx_input(operator):
    """The input's dtype and whether it holds images, from skl2onnx's declared type."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    input_type = operator.inputs[0].type
    if isinstance(input_type, FloatTensorType):
        dtype = np.dtype(np.float32)
    elif isinstance(input_type, DoubleTensorType):
        dtype = np.dtype(np.float64)
    else:
        raise TypeError(
            "skvae's ONNX converter takes float or double tensors, got "
            f"{type(input_type).__name__}."
        )
    return dtype, len(input_type.shape) == 4


def _shape_calculator(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    estimator = operator.raw_operator
    parts = _fitted_parts(estimator)
    dtype, image_input = _skl2onnx_input(operator)
    _check_image_input(parts, image_input, type(estimator).__name__)
    n_rows = operator.inputs[0].get_first_dimension()
    if isinstance(estimator, VAEImputer):
        shape = (
            [n_rows, *parts.image_shape] if image_input else [n_rows, _n_imputed_features(parts)]
        )
    else:
        shape = [n_rows, parts.latent_dim]
    operator.outputs[0].type = (FloatTensorType if dtype == np.float32 else DoubleTensorType)(
        shape
    )


def _converter(scope, operator, container):
    estimator = operator.raw_operator
    parts = _fitted_parts(estimator)
    if container.target_opset is not None and container.target_opset < MIN_OPSET:
        raise ValueError(
            f"skvae's ONNX converter needs target_opset >= {MIN_OPSET}, "
            f"got {container.target_opset}."
        )
    dtype, image_input = _skl2onnx_input(operator)
    writer = _Skl2OnnxWriter(scope, container)
    input_name, output_name = operator.inputs[0].full_name, operator.outputs[0].full_name
    if isinstance(estimator, VAEImputer):
        options = container.get_options(estimator, {"imputation": None})
        _check_imputation(estimator, options["imputation"])
        _emit_single_pass_imputation(writer, parts, input_name, dtype, image_input, output_name)
    else:
        _emit_transform(writer, parts, input_name, dtype, image_input, output_name)


def register_converters():
    """Register the converters of both estimators with skl2onnx (idempotent)."""
    from skl2onnx import update_registered_converter

    update_registered_converter(
        VariationalAutoencoder, "SkvaeVariationalAutoencoder", _shape_calculator, _converter
    )
    update_registered_converter(
        VAEImputer,
        "SkvaeVAEImputer",
        _shape_calculator,
        _converter,
        options={"imputation": list(IMPUTATIONS)},
    )
