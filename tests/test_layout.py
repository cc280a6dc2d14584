"""The fitted layout, resolved once from the training data and parameters."""

import dataclasses

import numpy as np
import pytest

from skvae import VAEImputer, VariationalAutoencoder
from skvae._layout import UINT8_SCALE, auto_hidden_layer_sizes, resolve_layout


def _resolve(X, input_image_shape=None, **params):
    defaults = dict(
        image_shape=None,
        architecture="auto",
        output_activation="auto",
        likelihood="gaussian",
        noise_scale="shared",
        alpha="auto",
    )
    return resolve_layout(X, input_image_shape, **{**defaults, **params})


def test_8_bit_data_is_scaled_in_and_out():
    X = np.full((2, 16), 255, np.uint8)
    layout = _resolve(X, image_shape=(4, 4))
    assert layout.input_scale == UINT8_SCALE
    assert layout.output_activation == "sigmoid"
    batch = next(layout.batches(X))
    assert batch.dtype == np.float32 and batch.shape == (2, 4, 4, 1) and batch.max() == 1.0
    np.testing.assert_array_equal(layout.to_output(batch.reshape(2, -1)), X.astype(float))


@pytest.mark.parametrize(
    "n_features, params, expected",
    [
        (16, {}, ("dense", None)),
        (36, {}, ("dense", None)),
        (784, {}, ("dense", None)),
        (9, {"architecture": "conv"}, ("conv", (3, 3, 1))),
        (16, {"architecture": "dense"}, ("dense", None)),
        (12, {"image_shape": (2, 3, 2)}, ("conv", (2, 3, 2))),
    ],
)
def test_architecture_and_image_shape(n_features, params, expected):
    layout = _resolve(np.zeros((3, n_features)), **params)
    assert (layout.architecture, layout.image_shape) == expected


def test_4d_input_comes_back_4d_and_rows_come_back_2d():
    X = np.random.default_rng(0).normal(size=(3, 12))
    as_images = _resolve(X, input_image_shape=(2, 3, 2))
    as_rows = _resolve(X, image_shape=(2, 3, 2))
    assert as_images.output_activation == "linear"
    assert as_images.to_output(X).shape == (3, 2, 3, 2)
    assert as_rows.to_output(X).shape == (3, 12)


def test_layout_is_frozen():
    layout = _resolve(np.zeros((2, 5)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.architecture = "conv"


@pytest.mark.parametrize(
    "n_features, expected",
    [
        (1, (64,)),
        (10, (64,)),
        (36, (64,)),
        (128, (64,)),
        (129, (64, 32)),
        (256, (64, 32)),
        (257, (128, 64)),
        (512, (128, 64)),
        (513, (256, 128)),
        (784, (256, 128)),
        (1024, (256, 128)),
        (1025, (512, 256)),
        (20_000, (512, 256)),
    ],
)
def test_auto_dense_layers_widen_with_the_columns(n_features, expected):
    # Up to 128 columns, the (64,) measured on 10-36 column tables; above,
    # the smallest power of two at or above a quarter of the columns (at
    # most 512), then half of it.
    layout = _resolve(np.zeros((2, n_features)))
    fixed = VariationalAutoencoder._auto_hidden_layer_sizes
    assert auto_hidden_layer_sizes(layout, fixed) == expected
    # As model files before format version 4 built it: the fixed widths.
    assert auto_hidden_layer_sizes(layout, fixed, widens=False) == (64,)


@pytest.mark.parametrize("n_features", [10, 784])
def test_the_imputer_and_conv_networks_keep_their_fixed_auto_layers(n_features):
    table = _resolve(np.zeros((2, n_features)))
    imputer = VAEImputer._auto_hidden_layer_sizes
    assert auto_hidden_layer_sizes(table, imputer, widens=VAEImputer._widens_auto_layers) == (
        128,
        128,
    )
    images = _resolve(np.zeros((2, 784)), image_shape=(28, 28))
    fixed = VariationalAutoencoder._auto_hidden_layer_sizes
    assert auto_hidden_layer_sizes(images, fixed) == ()
