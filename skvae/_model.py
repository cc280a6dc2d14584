"""The Keras graph: encoder, decoder, sampling layer and the training model.

Nothing here imports scikit-learn. Builders take plain hyper-parameters and
shapes and return uncompiled Keras models, so the estimator can build them
inside ``fit`` (which keeps ``clone`` cheap) and tests can build them alone.
All randomness (weight initialisers, the sampling noise) is derived from one
integer ``seed``, so a model is reproducible without touching global seeds.
"""

import dataclasses
import math
import random

import keras
import numpy as np
from keras import layers, ops

from ._backends import backend
from ._likelihoods import as_family
from ._losses import (
    LOG_VAR_RANGE,
    importance_weighted_loss,
    kl_loss,
    observed_entries,
    reparameterize,
)


@keras.saving.register_keras_serializable(package="skvae")
class Sampling(layers.Layer):
    """Reparameterised draw ``z = mu + exp(log_var / 2) * eps``, ``eps ~ N(0, I)``.

    Args:
        seed: Integer seed of the layer's own ``keras.random.SeedGenerator``.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        mu, log_var = inputs
        eps = keras.random.normal(ops.shape(mu), dtype=mu.dtype, seed=self.seed_generator)
        return reparameterize(mu, log_var, eps)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="skvae")
class Clip(layers.Layer):
    """Clip values to ``[low, high]``; keeps ``exp(log_var)`` finite in float32.

    Args:
        low: Lower bound.
        high: Upper bound.
    """

    def __init__(self, low, high, **kwargs):
        super().__init__(**kwargs)
        self.low = low
        self.high = high

    def call(self, inputs):
        return ops.clip(inputs, self.low, self.high)

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}


@keras.saving.register_keras_serializable(package="skvae")
class FillMissing(layers.Layer):
    """Missing (NaN) entries set to 0, optionally with the mask of observed ones.

    The first layer of an encoder for incomplete data: the encoder then reads
    ``x`` with NaN where values are missing, in training and inference alike.

    Args:
        with_mask: Also append the 0/1 mask of observed entries on the last
            axis (a second set of channels for images).
    """

    def __init__(self, with_mask=False, **kwargs):
        super().__init__(**kwargs)
        self.with_mask = with_mask

    def call(self, inputs):
        filled, mask = observed_entries(inputs)
        return ops.concatenate([filled, mask], axis=-1) if self.with_mask else filled

    def get_config(self):
        return {**super().get_config(), "with_mask": self.with_mask}


@keras.saving.register_keras_serializable(package="skvae")
class NoiseModel(layers.Layer):
    """The decoder's learned noise: one variance per feature (or one for all), floored.

    Trained with the networks on the ELBO. The variance is ``floor +
    exp(raw)``, so it never falls below ``floor``: a constant column or an
    image border, which a decoder can reconstruct exactly, would otherwise
    drive its variance, and the likelihood, to infinity. For a family with
    degrees of freedom (Student's t) it is the squared scale, and the
    degrees of freedom are learned too, ``df_floor + softplus(raw_df)``.

    Args:
        initial_variance: Starting variance: one per feature (the shape of
            one sample) or a scalar.
        floor: Smallest variance.
        df_floor: Smallest degrees of freedom (the family's
            ``Likelihood.min_df``), or None to learn none.
        initial_df: Starting degrees of freedom, one or one per feature.
    """

    def __init__(self, initial_variance, floor, df_floor=None, initial_df=None, **kwargs):
        super().__init__(**kwargs)
        self.floor = float(floor)
        excess = np.maximum(np.asarray(initial_variance, np.float64) - self.floor, self.floor)
        self.raw_variance = keras.Variable(
            np.log(excess).astype("float32"), trainable=True, name="raw_variance"
        )
        self.df_floor = df_floor
        self.raw_df = None
        if df_floor is not None:
            # softplus^-1(y) = log(exp(y) - 1)
            raw = np.log(np.expm1(np.asarray(initial_df, np.float64) - df_floor))
            self.raw_df = keras.Variable(
                np.broadcast_to(raw, excess.shape).astype("float32"), trainable=True, name="raw_df"
            )
        # The weights exist from the start: there is nothing left to build.
        self.built = True

    def variance(self):
        """The variance (squared scale), at least ``floor``."""
        return self.floor + ops.exp(self.raw_variance)

    def df(self):
        """The degrees of freedom, at least ``df_floor``; None for a family without them."""
        return None if self.raw_df is None else self.df_floor + ops.softplus(self.raw_df)


@dataclasses.dataclass(frozen=True)
class NetworkStructure:
    """What the encoder is (the decoder mirrors it), validated for one layout.

    Every field but ``architecture`` (the layout's) is the estimator
    parameter of the same name (see :meth:`parameter_names`), so a new
    network parameter is a new field here, read by the builders below.

    Attributes:
        latent_dim: Size of the latent space.
        architecture: ``"conv"`` or ``"dense"``, as the layout resolved it.
        hidden_layer_sizes: Units of the hidden Dense layers between the input
            (``"dense"``) or the last convolution (``"conv"``) and the latent
            space.
        batch_norm: Whether to put BatchNormalization after each hidden layer.
        conv_filters, conv_kernels, conv_strides: One entry per conv layer
            (``"conv"``; empty for a dense network).
    """

    latent_dim: int
    architecture: str
    hidden_layer_sizes: tuple = ()
    batch_norm: bool = False
    conv_filters: tuple = ()
    conv_kernels: tuple = ()
    conv_strides: tuple = ()

    @classmethod
    def parameter_names(cls):
        """The estimator parameters that become fields (all but ``architecture``)."""
        names = (field.name for field in dataclasses.fields(cls))
        return tuple(name for name in names if name != "architecture")


def encoded_spatial_shape(height, width, strides):
    """Spatial shape after ``same``-padded convolutions with the given strides."""
    for stride in strides:
        height, width = math.ceil(height / stride), math.ceil(width / stride)
    return height, width


class _SeedStream:
    """Distinct integer seeds for every initialiser, all derived from one seed."""

    def __init__(self, seed):
        self._rng = random.Random(seed)

    def __call__(self):
        return self._rng.randrange(2**31 - 1)


def _dense(units, seeds, **kwargs):
    return layers.Dense(
        units, kernel_initializer=keras.initializers.GlorotUniform(seeds()), **kwargs
    )


def _conv(layer_class, filters, kernel, stride, seeds, **kwargs):
    return layer_class(
        filters,
        kernel,
        strides=stride,
        padding="same",
        kernel_initializer=keras.initializers.GlorotUniform(seeds()),
        **kwargs,
    )


def _maybe_batch_norm(hidden, structure):
    return layers.BatchNormalization()(hidden) if structure.batch_norm else hidden


def build_encoder(input_shape, structure, *, missing_entries=None, seed=None):
    """Build the encoder ``x -> (mu, log_var)``.

    Args:
        input_shape: Shape of one sample: ``(height, width, channels)`` for
            ``"conv"``, anything for ``"dense"`` (it is flattened).
        structure: The :class:`NetworkStructure`.
        missing_entries: None for complete data; ``"zero"`` reads NaN
            entries as 0, ``"zero_and_mask"`` also feeds the mask of observed
            entries (see :class:`FillMissing`).
        seed: Integer seed of the weight initialisers.

    Returns:
        A functional ``keras.Model`` named ``"encoder"`` with outputs
        ``[mu, log_var]``; ``log_var`` is clipped to ``LOG_VAR_RANGE``.
    """
    seeds = _SeedStream(seed)
    inputs = keras.Input(shape=tuple(input_shape), name="x")
    hidden = inputs
    if missing_entries is not None:
        hidden = FillMissing(with_mask=missing_entries == "zero_and_mask")(hidden)
    if structure.architecture == "conv":
        for filters, kernel, stride in zip(
            structure.conv_filters, structure.conv_kernels, structure.conv_strides, strict=True
        ):
            hidden = _conv(layers.Conv2D, filters, kernel, stride, seeds, activation="relu")(
                hidden
            )
            hidden = _maybe_batch_norm(hidden, structure)
    hidden = layers.Flatten()(hidden)
    for units in structure.hidden_layer_sizes:
        hidden = _dense(units, seeds, activation="relu")(hidden)
        hidden = _maybe_batch_norm(hidden, structure)
    mu = _dense(structure.latent_dim, seeds, name="mu")(hidden)
    log_var = _dense(structure.latent_dim, seeds, name="log_var_unclipped")(hidden)
    log_var = Clip(*LOG_VAR_RANGE, name="log_var")(log_var)
    return keras.Model(inputs, [mu, log_var], name="encoder")


def build_decoder(output_shape, structure, *, output_activation, seed=None):
    """Build the decoder ``z -> x_hat``, the mirror image of :func:`build_encoder`.

    The hidden Dense layers come in reverse order; then a conv decoder maps
    to the encoder's pre-flatten shape, runs
    ``Conv2DTranspose`` layers with the reversed filters and strides, maps to
    the input's channel count and crops the result to exactly
    ``output_shape``, so strides need not divide the image size.

    Args:
        output_shape: Shape of one sample, as given to :func:`build_encoder`.
        structure: The :class:`NetworkStructure`, as given to :func:`build_encoder`.
        output_activation: ``"sigmoid"`` or ``"linear"``.
        seed: Integer seed of the weight initialisers.

    Returns:
        A functional ``keras.Model`` named ``"decoder"``.
    """
    seeds = _SeedStream(None if seed is None else seed + 1)
    output_shape = tuple(output_shape)
    inputs = keras.Input(shape=(structure.latent_dim,), name="z")
    conv_filters, conv_kernels, conv_strides = (
        structure.conv_filters,
        structure.conv_kernels,
        structure.conv_strides,
    )
    hidden = inputs
    for units in reversed(structure.hidden_layer_sizes):
        hidden = _dense(units, seeds, activation="relu")(hidden)
        hidden = _maybe_batch_norm(hidden, structure)
    if structure.architecture == "conv":
        height, width, channels = output_shape
        encoded_height, encoded_width = encoded_spatial_shape(height, width, conv_strides)
        start_shape = (encoded_height, encoded_width, conv_filters[-1])
        hidden = _dense(math.prod(start_shape), seeds, activation="relu")(hidden)
        hidden = layers.Reshape(start_shape)(hidden)
        for i in reversed(range(1, len(conv_filters))):
            hidden = _conv(
                layers.Conv2DTranspose,
                conv_filters[i - 1],
                conv_kernels[i],
                conv_strides[i],
                seeds,
                activation="relu",
            )(hidden)
            hidden = _maybe_batch_norm(hidden, structure)
        hidden = _conv(layers.Conv2DTranspose, channels, conv_kernels[0], conv_strides[0], seeds)(
            hidden
        )
        excess_height = encoded_height * math.prod(conv_strides) - height
        excess_width = encoded_width * math.prod(conv_strides) - width
        if excess_height or excess_width:
            hidden = layers.Cropping2D(
                (
                    (excess_height // 2, excess_height - excess_height // 2),
                    (excess_width // 2, excess_width - excess_width // 2),
                )
            )(hidden)
    else:
        hidden = _dense(math.prod(output_shape), seeds)(hidden)
        hidden = layers.Reshape(output_shape)(hidden)
    outputs = layers.Activation(output_activation, name="x_hat")(hidden)
    return keras.Model(inputs, outputs, name="decoder")


#: The range of means a sigmoid output may start at: a feature that is 0 (or
#: 1) in every training row would otherwise start at an infinite logit.
START_MEAN_RANGE = (1e-3, 1.0 - 1e-3)


def start_at_mean(decoder, feature_means):
    """Set a sigmoid decoder's output bias so that it starts at the data's mean.

    Freshly initialised, a decoder outputs about ``sigmoid(0) = 0.5``
    everywhere. On data whose mean is far from that (dark images), every
    output must first move the same way, and Adam's first steps, of full
    size in every weight at once, overshoot into the sigmoid's flat tail: a
    blank image, where the reconstruction error has no gradient left, and
    the fit never recovers. Started at the mean, the decoder has only each
    row's deviation from it to learn. A dense decoder has a bias per
    feature; a convolutional one has a bias per channel, which starts at the
    channel's mean over the pixels.

    Args:
        decoder: A model from :func:`build_decoder` with a sigmoid output.
        feature_means: The training data's mean per feature, flat (features
            in the order of one flattened sample).
    """
    with_bias = [layer for layer in decoder.layers if getattr(layer, "bias", None) is not None]
    output_layer = with_bias[-1]
    channels = output_layer.bias.shape[0]
    mean = np.reshape(feature_means, (-1, channels)).mean(axis=0)
    mean = np.clip(mean, *START_MEAN_RANGE)
    output_layer.bias.assign(np.log(mean / (1.0 - mean)).astype(output_layer.bias.dtype))


class VAETrainer(backend.TrainerBase):
    """Joins an encoder and a decoder for training on the VAE objective.

    Only the encoder and decoder are kept after training; this model exists so
    that ``keras.Model.fit`` (callbacks, progress bar, distribution) drives
    the optimisation. The loss lives in ``compute_loss`` rather than a
    hand-written ``GradientTape`` so the model stays backend-portable.

    The objective is ``alpha * reconstruction + KL`` (``combined_loss``) for
    a numeric ``alpha``, or the calibrated negative ELBO (``calibrated_loss``)
    for ``alpha="auto"``; a mixed table's categorical columns count
    ``categorical_weight`` times in it. These settings are non-trainable
    variables, not Python values: Keras traces the train step once, and a
    Python value would be frozen into that graph, so a continued fit would
    keep training on the old one. Change them with :meth:`set_alpha` and
    :meth:`set_categorical_weight`, as the optimiser's learning rate is
    changed with ``assign``.

    Args:
        encoder: Model ``x -> [mu, log_var]``.
        decoder: Model ``z -> x_hat``.
        alpha: Weight of the reconstruction term, or ``"auto"``.
        likelihood: A registered likelihood's name (see ``_likelihoods``),
            or a :class:`~skvae._likelihoods.Likelihood` (a mixed table's):
            the decoder's distribution, which the loss asks for its
            log-probability and reconstruction error.
        masked: Whether the data have missing (NaN) entries; the
            reconstruction term then covers the observed entries only, and
            the encoder must read NaN (``build_encoder(missing_entries=...)``).
        mask_augmentation: Whether training hides a random part of each row's
            observed entries from the encoder (:meth:`hidden_entries`); the
            loss still scores every observed entry. Needs ``masked``.
        categorical_weight: Factor on each categorical (and ordinal)
            column's log-probability in the loss (see
            ``Likelihood.with_categorical_weight``).
        seed: Integer seed of the sampling noise (and of the hiding).
        noise: A :class:`NoiseModel` to learn with the networks, or None.
            With one, the loss is the negative ELBO under it (``alpha`` is
            not used). A family that does not calibrate its noise on the
            batch (Student's t) needs one.
        n_draws: Latent draws per row. 1 trains on the objective above with
            the KL term in closed form; ``k > 1`` on the importance-weighted
            bound of the same likelihood (``importance_weighted_loss``).
    """

    def __init__(
        self,
        encoder,
        decoder,
        alpha,
        likelihood="gaussian",
        masked=False,
        mask_augmentation=False,
        categorical_weight=1.0,
        seed=None,
        noise=None,
        n_draws=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.noise = noise
        self.n_draws = int(n_draws)
        self.likelihood = likelihood
        self.family = as_family(likelihood)
        self.masked = masked
        self.mask_augmentation = mask_augmentation
        if mask_augmentation:
            self.hiding_seeds = keras.random.SeedGenerator(None if seed is None else seed + 1)
        self.alpha = keras.Variable(1.0, trainable=False, name="alpha")
        self.calibrated = keras.Variable(False, trainable=False, dtype="bool", name="calibrated")
        self.set_alpha(alpha)
        self.categorical_weight = keras.Variable(
            float(categorical_weight), trainable=False, name="categorical_weight"
        )
        # The loss's terms; self.family, the likelihood, reports and scores.
        self.objective_family = self.family.with_categorical_weight(self.categorical_weight)
        self.sampling = Sampling(seed=seed, name="sampling")
        # Weightless, and with k draws only its seed generator is used.
        self.sampling.build(None)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    def set_alpha(self, alpha):
        """Train on ``alpha * reconstruction + KL``, or the calibrated loss for ``"auto"``."""
        calibrated = alpha == "auto"
        self.calibrated.assign(calibrated)
        if not calibrated:
            self.alpha.assign(float(alpha))

    def set_categorical_weight(self, weight):
        """Weigh each categorical column's log-probability ``weight`` times in the loss."""
        self.categorical_weight.assign(float(weight))

    def call(self, x, training=False):
        encoder_input = x
        if training and self.mask_augmentation:
            encoder_input = ops.where(self.hidden_entries(x), ops.full_like(x, float("nan")), x)
        mu, log_var = self.encoder(encoder_input, training=training)
        if self.n_draws == 1:
            x_hat = self.decoder(self.sampling([mu, log_var]), training=training)
            return {"x_hat": x_hat, "mu": mu, "log_var": log_var}
        # k draws per row, decoded as one batch of rows x draws points.
        shape = ops.shape(mu)
        eps = keras.random.normal(
            (shape[0], self.n_draws, shape[1]), dtype=mu.dtype, seed=self.sampling.seed_generator
        )
        z = reparameterize(mu[:, None, :], log_var[:, None, :], eps)
        x_hat = self.decoder(ops.reshape(z, (-1, shape[1])), training=training)
        return {"x_hat": x_hat, "mu": mu, "log_var": log_var, "z": z}

    def log_likelihood(self, x, x_hat, mask=None):
        """``log p(x | z)`` per row of ``x_hat`` under the training objective's decoder.

        A mixed table's categorical columns count ``categorical_weight``
        times in it.

        The learned :class:`NoiseModel`'s when there is one; otherwise the
        one ``alpha`` implies, ``-alpha * reconstruction`` up to a constant,
        or for ``"auto"`` the decoder calibrated on the batch.
        """
        family = self.objective_family
        if self.noise is not None:
            variance, df = self.noise.variance(), self.noise.df()
            return family.log_prob(x, x_hat, mask, variance=variance, df=df)
        # JAX's where takes arrays, not Keras variables.
        return ops.where(
            ops.convert_to_tensor(self.calibrated),
            family.calibrated_log_prob(x, x_hat, mask),
            -self.alpha * family.reconstruction_error(x, x_hat, mask),
        )

    def hidden_entries(self, x):
        """A random boolean mask of the entries of ``x`` to hide from the encoder.

        Each row hides each entry with a probability drawn for the row from
        U(0, 1), so the encoder learns to infer ``z`` from anything between
        everything and nothing. Missing entries at ``transform`` are often
        not scattered but contiguous (a region of an image), which scattered
        hiding never shows the encoder, so for images half of the rows hide a
        random half-plane instead: the pixels on one side of a line of
        random direction through a random point of the central 80%.
        Hiding leaves the objective an ELBO: ``q`` may condition on less
        than is observed.
        """
        shape = ops.shape(x)
        row_shape = (shape[0],) + (1,) * (len(x.shape) - 1)
        seeds = self.hiding_seeds
        rate = keras.random.uniform(row_shape, seed=seeds)
        hidden = keras.random.uniform(shape, seed=seeds) < rate
        if len(x.shape) != 4:
            return hidden
        height, width = x.shape[1], x.shape[2]
        angle = keras.random.uniform(row_shape, maxval=2 * math.pi, seed=seeds)
        offset = keras.random.uniform(row_shape, minval=-0.4, maxval=0.4, seed=seeds)
        rows = (ops.arange(height, dtype=x.dtype) - (height - 1) / 2) / height
        columns = (ops.arange(width, dtype=x.dtype) - (width - 1) / 2) / width
        along = ops.cos(angle) * rows[:, None, None] + ops.sin(angle) * columns[None, :, None]
        half_plane = ops.broadcast_to(along > offset, shape)
        use_half_plane = keras.random.uniform(row_shape, seed=seeds) < 0.5
        return ops.where(use_half_plane, half_plane, hidden)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        x_hat, mu, log_var = y_pred["x_hat"], y_pred["mu"], y_pred["log_var"]
        mask = None
        if self.masked:
            x, mask = observed_entries(x)
        if self.n_draws > 1:  # one copy of each row per draw, as x_hat has
            x = ops.repeat(x, self.n_draws, axis=0)
            mask = None if mask is None else ops.repeat(mask, self.n_draws, axis=0)
        # The tracked terms repeat subexpressions of the loss; the traced
        # graph computes each once (common-subexpression elimination).
        self.reconstruction_tracker.update_state(self.family.reconstruction_error(x, x_hat, mask))
        self.kl_tracker.update_state(kl_loss(mu, log_var))
        if self.n_draws == 1:
            # KL - (-alpha * reconstruction) is combined_loss's sum and
            # KL - calibrated log-likelihood is calibrated_loss, to the bit.
            per_row = kl_loss(mu, log_var) - self.log_likelihood(x, x_hat, mask)
        else:
            log_likelihood = ops.reshape(self.log_likelihood(x, x_hat, mask), (-1, self.n_draws))
            per_row = importance_weighted_loss(log_likelihood, y_pred["z"], mu, log_var)
        loss = ops.mean(per_row)
        # Under a tf.distribute strategy Keras sums the replicas' gradients and
        # multiplies the reported loss back, so each replica's share is scaled
        # down here, as Keras' own compiled losses do.
        replicas = backend.replicas_in_sync()
        return loss / replicas if replicas > 1 else loss
