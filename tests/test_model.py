"""Direct tests of ``skvae._model``: builders, layers and the training model.

The networks are tiny (two filters, four hidden units), so each test builds
its own in well under a second. That ``log_var`` is clipped is tested in
``test_losses.py``, next to the KL it protects.
"""

import math

import keras
import numpy as np
import pytest
from scipy import stats

from skvae._losses import kl_loss, observed_entries, reconstruction_loss
from skvae._model import (
    Clip,
    FillMissing,
    NetworkStructure,
    Sampling,
    VAETrainer,
    build_decoder,
    build_encoder,
    encoded_spatial_shape,
    start_at_mean,
)

LATENT_DIM = 3
DENSE = dict(architecture="dense", hidden_layer_sizes=(4,))


def conv(strides):
    """Builder arguments of a conv network with two filters per layer."""
    n_layers = len(strides)
    return dict(
        architecture="conv",
        conv_filters=(2,) * n_layers,
        conv_kernels=(3,) * n_layers,
        conv_strides=strides,
    )


def build_pair(shape, structure, seed=0, output_activation="sigmoid"):
    structure = NetworkStructure(LATENT_DIM, **structure)
    encoder = build_encoder(shape, structure, seed=seed)
    decoder = build_decoder(shape, structure, output_activation=output_activation, seed=seed)
    return encoder, decoder


def random_batch(shape, n_rows=2, seed=0):
    return np.random.default_rng(seed).random((n_rows, *shape)).astype(np.float32)


# Builders -------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, strides, crops",
    [
        ((28, 28, 1), (2, 2), False),
        ((8, 8, 1), (1, 2), False),
        ((5, 7, 1), (2, 2), True),  # upsampled to 8x8, cropped back
        ((16, 16, 3), (2,), False),
    ],
)
def test_conv_decoder_outputs_exactly_the_input_shape(shape, strides, crops):
    encoder, decoder = build_pair(shape, conv(strides))
    mu, log_var = (np.asarray(v) for v in encoder(random_batch(shape)))
    assert mu.shape == log_var.shape == (2, LATENT_DIM)
    assert np.asarray(decoder(mu)).shape == (2, *shape)
    assert decoder.output_shape == (None, *shape)
    # The decoder starts from the shape the encoder flattens.
    last_conv = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)][-1]
    assert last_conv.output.shape[1:3] == encoded_spatial_shape(*shape[:2], strides)
    cropping = [layer for layer in decoder.layers if isinstance(layer, keras.layers.Cropping2D)]
    assert bool(cropping) == crops


def test_conv_network_puts_its_hidden_layers_between_convolutions_and_latent():
    shape = (8, 8, 1)
    encoder, decoder = build_pair(shape, {**conv((2,)), "hidden_layer_sizes": (5, 3)})
    encoder_dense = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Dense)]
    # flattened 4x4x2 -> 5 -> 3 -> mu and log_var
    assert [layer.kernel.shape for layer in encoder_dense] == [(32, 5), (5, 3), (3, 3), (3, 3)]
    decoder_dense = [layer for layer in decoder.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.kernel.shape for layer in decoder_dense] == [(3, 3), (3, 5), (5, 32)]
    mu, _ = encoder(random_batch(shape))
    assert np.asarray(decoder(mu)).shape == (2, *shape)


def test_encoded_spatial_shape_rounds_up_at_every_stride():
    assert encoded_spatial_shape(28, 28, (2, 2)) == (7, 7)
    assert encoded_spatial_shape(5, 7, (2, 2)) == (2, 2)
    assert encoded_spatial_shape(5, 7, ()) == (5, 7)


@pytest.mark.parametrize("shape", [(6,), (4, 3, 2)])
def test_dense_network_flattens_its_input_and_restores_the_shape(shape):
    encoder, decoder = build_pair(shape, DENSE)
    mu, _ = encoder(random_batch(shape))
    assert np.asarray(mu).shape == (2, LATENT_DIM)
    assert decoder.output_shape == (None, *shape)
    assert np.asarray(decoder(mu)).shape == (2, *shape)


@pytest.mark.parametrize("output_activation", ["sigmoid", "linear"])
def test_decoder_output_activation(output_activation):
    _, decoder = build_pair((6,), DENSE, output_activation=output_activation)
    z = np.random.default_rng(0).normal(scale=100, size=(50, LATENT_DIM)).astype(np.float32)
    x_hat = np.asarray(decoder(z))
    inside_unit_interval = bool(np.all((x_hat >= 0) & (x_hat <= 1)))
    assert inside_unit_interval == (output_activation == "sigmoid")


def _logit(p):
    return np.log(p / (1 - p))


def test_a_dense_sigmoid_decoder_starts_at_each_features_mean():
    means = np.array([0.5, 0.1, 0.9, 0.0, 1.0, 0.25])
    _, decoder = build_pair((6,), DENSE)
    start_at_mean(decoder, means)
    bias = decoder.layers[-3].bias.numpy()  # Dense, Reshape, Activation
    clipped = np.clip(means, 1e-3, 1 - 1e-3)  # all-0 and all-1 features: finite logits
    np.testing.assert_allclose(bias, _logit(clipped), rtol=1e-5)
    # With the output layer's weights silenced, the decoder outputs the means.
    kernel = decoder.layers[-3].kernel
    kernel.assign(np.zeros(kernel.shape, np.float32))
    np.testing.assert_allclose(
        np.asarray(decoder(np.zeros((1, LATENT_DIM))))[0], clipped, rtol=1e-5
    )


def test_a_conv_sigmoid_decoder_starts_at_each_channels_mean_over_the_pixels():
    shape = (4, 4, 3)
    means = np.broadcast_to([0.2, 0.5, 0.05], shape).copy()
    means[0, 0] = [0.6, 0.5, 0.05]  # one pixel brighter in the first channel
    _, decoder = build_pair(shape, conv((2,)))
    start_at_mean(decoder, means.reshape(-1))
    (bias,) = [
        layer.bias.numpy() for layer in decoder.layers if getattr(layer, "bias", None) is not None
    ][-1:]
    np.testing.assert_allclose(bias, _logit(np.array([0.2 + 0.4 / 16, 0.5, 0.05])), rtol=1e-5)


def weights(*models):
    return [w for model in models for w in model.get_weights()]


@pytest.mark.parametrize("structure", [DENSE, conv((1, 2))], ids=["dense", "conv"])
def test_the_seed_alone_fixes_every_initial_weight(structure):
    first = weights(*build_pair((8, 8, 1), structure, seed=5))
    again = weights(*build_pair((8, 8, 1), structure, seed=5))
    other = weights(*build_pair((8, 8, 1), structure, seed=6))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    kernels = [(a, b) for a, b in zip(first, other, strict=True) if a.ndim > 1]
    assert all(not np.array_equal(a, b) for a, b in kernels)


# Layers ---------------------------------------------------------------------


def test_sampling_draws_around_mu_with_scale_exp_half_log_var():
    n_draws = 20_000
    mu = np.tile(np.float32([1.5, -2.0, 0.0]), (n_draws, 1))
    log_var = np.tile(np.float32([0.0, math.log(4.0), -3.0]), (n_draws, 1))
    z = np.asarray(Sampling(seed=0)([mu, log_var]), dtype=np.float64)
    scale = np.exp(0.5 * np.float64(log_var[0]))
    # Five standard errors of the mean and of the standard deviation.
    np.testing.assert_array_less(np.abs(z.mean(axis=0) - mu[0]), 5 * scale / math.sqrt(n_draws))
    np.testing.assert_array_less(np.abs(z.std(axis=0) - scale), 5 * scale / math.sqrt(2 * n_draws))


def test_sampling_is_reproducible_for_a_seed_and_fresh_on_every_call():
    mu, log_var = np.zeros((4, 2), np.float32), np.zeros((4, 2), np.float32)
    layer = Sampling(seed=3)
    first, second = (np.asarray(layer([mu, log_var])) for _ in range(2))
    assert not np.array_equal(first, second)
    replay = Sampling(seed=3)
    np.testing.assert_array_equal(np.asarray(replay([mu, log_var])), first)
    np.testing.assert_array_equal(np.asarray(replay([mu, log_var])), second)
    assert not np.array_equal(np.asarray(Sampling(seed=4)([mu, log_var])), first)


def test_clip_bounds_values():
    values = np.float32([[-5.0, 0.5, 5.0]])
    np.testing.assert_array_equal(np.asarray(Clip(-1.0, 2.0)(values)), [[-1.0, 0.5, 2.0]])


@pytest.mark.parametrize(
    "layer",
    [
        Sampling(seed=7, name="noise"),
        Clip(-1.0, 2.0, name="bounds"),
        FillMissing(with_mask=True, name="fill"),
    ],
    ids=repr,
)
def test_layers_round_trip_through_their_config_and_keras_serialization(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    # Registered with Keras, so no custom_objects are needed to load them.
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer)
    assert restored.get_config() == config


# The training model ---------------------------------------------------------


def reference_loss(x, outputs, alpha):
    """``mean(alpha * mse + KL)`` of a trainer's outputs, from ``skvae._losses``."""
    mse = np.asarray(reconstruction_loss(x, outputs["x_hat"]), dtype=np.float64)
    kl = np.asarray(kl_loss(outputs["mu"], outputs["log_var"]), dtype=np.float64)
    return {
        "loss": np.mean(alpha * mse + kl),
        "reconstruction_loss": mse.mean(),
        "kl_loss": kl.mean(),
    }


def dense_trainer(alpha):
    encoder, decoder = build_pair((5,), DENSE, output_activation="linear")
    trainer = VAETrainer(encoder, decoder, alpha, seed=0)
    # A zero learning rate keeps the weights, so every step sees the same network.
    trainer.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0))
    return trainer


def test_compute_loss_is_the_batch_mean_of_alpha_mse_plus_kl():
    trainer = dense_trainer(alpha=3.0)
    x = random_batch((5,), n_rows=8)
    outputs = trainer(x)
    loss = float(trainer.compute_loss(x, y_pred=outputs))
    assert loss == pytest.approx(reference_loss(x, outputs, 3.0)["loss"], rel=1e-6)


def test_train_step_loss_follows_alpha_assigned_after_tracing():
    trainer = dense_trainer(alpha=2.0)
    x = random_batch((5,), n_rows=8)
    noise_state = trainer.sampling.seed_generator.state.numpy()

    def step_and_reference(alpha):
        """One traced train step and the loss of the same draws computed eagerly."""
        trainer.sampling.seed_generator.state.assign(noise_state)
        # Keras < 3.15's train_on_batch keeps averaging the metrics of earlier
        # calls; the logs must be this step's alone.
        trainer.reset_metrics()
        logs = trainer.train_on_batch(x, return_dict=True)
        trainer.sampling.seed_generator.state.assign(noise_state)
        return logs, reference_loss(x, trainer(x), alpha)

    logs, expected = step_and_reference(2.0)
    for name, value in expected.items():
        assert logs[name] == pytest.approx(value, rel=1e-6), name
    traced_step = trainer.train_function

    trainer.alpha.assign(50.0)
    logs, expected = step_and_reference(50.0)
    assert trainer.train_function is traced_step, "the step was not traced again"
    assert logs["loss"] == pytest.approx(expected["loss"], rel=1e-6)


# Incomplete data --------------------------------------------------------------


@pytest.mark.parametrize("structure, shape", [(DENSE, (5,)), (conv((1, 2)), (4, 4, 2))])
def test_an_encoder_for_missing_entries_reads_nan_as_zero(structure, shape):
    encoder = build_encoder(
        shape, NetworkStructure(LATENT_DIM, **structure), missing_entries="zero", seed=0
    )
    x = random_batch(shape, n_rows=6)
    x_missing = np.where(np.random.default_rng(1).random(x.shape) < 0.3, np.nan, x)
    for got, expected in zip(
        encoder(x_missing), encoder(np.nan_to_num(x_missing, nan=0.0)), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
        assert np.isfinite(np.asarray(got)).all()


def test_fill_missing_can_append_the_mask_as_channels():
    x = np.float32([[[[np.nan], [2.0]]]])  # one 1x2 image, one channel
    out = np.asarray(FillMissing(with_mask=True)(x))
    np.testing.assert_array_equal(out, [[[[0.0, 0.0], [2.0, 1.0]]]])


def test_a_masked_trainer_scores_the_observed_entries_only():
    _, decoder = build_pair((5,), DENSE, output_activation="linear")
    encoder = build_encoder(
        (5,), NetworkStructure(LATENT_DIM, **DENSE), missing_entries="zero", seed=0
    )
    trainer = VAETrainer(encoder, decoder, 3.0, masked=True, seed=0)
    x = random_batch((5,), n_rows=8)
    x[::2, 1:3] = np.nan
    outputs = trainer(x)
    loss = float(trainer.compute_loss(x, y_pred=outputs))
    filled, mask = observed_entries(x)
    mse = np.asarray(reconstruction_loss(filled, outputs["x_hat"], mask=mask), np.float64)
    kl = np.asarray(kl_loss(outputs["mu"], outputs["log_var"]), np.float64)
    assert math.isfinite(loss)
    assert loss == pytest.approx(np.mean(3.0 * mse + kl), rel=1e-6)


def hiding_trainer(shape, structure):
    _, decoder = build_pair(shape, structure, output_activation="linear")
    encoder = build_encoder(
        shape, NetworkStructure(LATENT_DIM, **structure), missing_entries="zero_and_mask", seed=0
    )
    return VAETrainer(encoder, decoder, 1.0, masked=True, mask_augmentation=True, seed=0)


def test_hidden_entries_range_from_none_to_all_per_row():
    trainer = hiding_trainer((50,), DENSE)
    hidden = np.asarray(trainer.hidden_entries(np.zeros((400, 50), np.float32)))
    assert hidden.shape == (400, 50)
    rates = hidden.mean(axis=1)
    # One rate per row, uniform on (0, 1): spread over the whole range.
    assert rates.min() < 0.1 and rates.max() > 0.9
    assert 0.4 < rates.mean() < 0.6


def test_images_also_hide_half_planes():
    trainer = hiding_trainer((12, 12, 1), conv((1, 2)))
    hidden = np.asarray(trainer.hidden_entries(np.zeros((200, 12, 12, 1), np.float32)))[..., 0]

    def is_half_plane(mask):
        # A half-plane's hidden pixels in each row form one run that touches an edge.
        for line in (*mask, *mask.T):
            runs = np.flatnonzero(np.diff(np.concatenate([[0], line, [0]]).astype(int)))
            if len(runs) > 2 or (len(runs) == 2 and runs[0] > 0 and runs[1] < len(line)):
                return False
        return 0 < mask.sum() < mask.size

    share = np.mean([is_half_plane(mask) for mask in hidden])
    assert 0.35 < share < 0.65  # about half of the rows; scattered hiding is never one


def test_hiding_applies_to_training_calls_only():
    trainer = hiding_trainer((5,), DENSE)
    x = random_batch((5,), n_rows=8)
    mu, _ = trainer.encoder(x)
    np.testing.assert_array_equal(np.asarray(trainer(x)["mu"]), np.asarray(mu))
    hidden_mu = np.asarray(trainer(x, training=True)["mu"])
    assert np.isfinite(hidden_mu).all()
    assert not np.allclose(hidden_mu, np.asarray(mu))


def test_a_trainer_with_k_draws_trains_on_the_importance_weighted_bound():
    encoder, decoder = build_pair((5,), DENSE, output_activation="linear")
    trainer = VAETrainer(encoder, decoder, 3.0, n_draws=4, seed=0)
    x = random_batch((5,), n_rows=6)
    outputs = trainer(x)
    z, x_hat = np.asarray(outputs["z"], np.float64), np.asarray(outputs["x_hat"], np.float64)
    assert z.shape == (6, 4, LATENT_DIM) and x_hat.shape == (24, 5)
    mu, log_var = (np.asarray(outputs[name], np.float64) for name in ("mu", "log_var"))
    # alpha = 3: log p(x | z) = -3 * mse up to a constant, per draw.
    errors = ((np.repeat(x, 4, axis=0) - x_hat) ** 2).mean(axis=1).reshape(6, 4)
    log_q = stats.norm.logpdf(z, mu[:, None], np.exp(0.5 * log_var)[:, None]).sum(-1)
    log_w = -3.0 * errors + stats.norm.logpdf(z).sum(-1) - log_q
    expected = np.mean(-(np.log(np.mean(np.exp(log_w), axis=1))))
    loss = float(trainer.compute_loss(x, y_pred=outputs))
    assert loss == pytest.approx(expected, rel=1e-5)
