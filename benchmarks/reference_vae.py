"""The reference: skvae's default network as a user writes it by hand in Keras 3.

It follows the keras.io VAE example: functional encoder and decoder, a
``Sampling`` layer and a ``keras.Model`` subclass with a custom
``train_step``, fitted with ``model.fit`` on a float32 array.
"""

import math

import keras
import tensorflow as tf
from keras import layers, ops


class Sampling(layers.Layer):
    """``z = mu + exp(log_var / 2) * eps``, as in the keras.io VAE example."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * ops.cast(epsilon, z_mean.dtype)


class HandWrittenVAE(keras.Model):
    """A VAE as a user writes it: two functional models and a custom ``train_step``."""

    def __init__(self, encoder, decoder, alpha, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.alpha = alpha
        self.sampling = Sampling()
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(data, training=True)
            reconstruction = self.decoder(self.sampling([z_mean, z_log_var]), training=True)
            z_mean = ops.cast(z_mean, "float32")
            z_log_var = ops.cast(z_log_var, "float32")
            reconstruction = ops.cast(reconstruction, "float32")
            reconstruction_loss = ops.mean(ops.square(data - reconstruction), axis=(1, 2, 3))
            kl_loss = -0.5 * ops.sum(
                1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1
            )
            total_loss = ops.mean(self.alpha * reconstruction_loss + kl_loss)
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}


def build_hand_written_vae(sizes, side, jit_compile="auto"):
    """The default skvae network written out in plain Keras (same layers, same shapes)."""
    filters, strides, latent_dim = sizes.conv_filters, sizes.conv_strides, sizes.latent_dim
    encoder_inputs = keras.Input(shape=(side, side, 1))
    x = encoder_inputs
    for n_filters, stride in zip(filters, strides, strict=True):
        x = layers.Conv2D(n_filters, 3, strides=stride, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim)(x)
    z_log_var = layers.Lambda(lambda t: ops.clip(t, -30.0, 20.0), name="z_log_var")(z_log_var)
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var], name="encoder")

    encoded_side = side // math.prod(strides)
    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(encoded_side * encoded_side * filters[-1], activation="relu")(latent_inputs)
    x = layers.Reshape((encoded_side, encoded_side, filters[-1]))(x)
    for i in reversed(range(1, len(filters))):
        x = layers.Conv2DTranspose(
            filters[i - 1], 3, strides=strides[i], padding="same", activation="relu"
        )(x)
    x = layers.Conv2DTranspose(1, 3, strides=strides[0], padding="same")(x)
    # float32 output under a mixed policy, as the Keras mixed-precision guide advises.
    decoder_outputs = layers.Activation("sigmoid", dtype="float32")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")

    vae = HandWrittenVAE(encoder, decoder, sizes.alpha)
    vae.compile(optimizer=keras.optimizers.Adam(sizes.learning_rate), jit_compile=jit_compile)
    return vae


def fit_hand_written(sizes, X, epochs, **build_options):
    model = build_hand_written_vae(sizes, X.shape[1], **build_options)
    model.fit(X, epochs=epochs, batch_size=sizes.batch_size, verbose=0)
    return model
