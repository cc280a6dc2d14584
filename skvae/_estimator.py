"""The scikit-learn estimator around the Keras variational autoencoder."""

import contextlib
import hashlib
import math
import os
import tempfile
import warnings
from numbers import Integral, Real

import keras
import numpy as np
import tensorflow as tf
from scipy import sparse
from scipy.special import logsumexp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._data import iter_batches, training_dataset
from ._inference import CompiledVAE
from ._losses import (
    decoder_variance,
    diagonal_normal_log_density,
    kl_loss,
    standard_normal_log_density,
)
from ._model import VAETrainer, build_decoder, build_encoder
from ._optimizer import SingleReplicaAdam
from ._reproducibility import deterministic_ops

_MAX_SEED = np.iinfo(np.int32).max
# Rows handed to one compiled inference call, which loops over cache-sized
# chunks inside its graph (see _inference.py); bounds the float32 copy made
# of uint8 or float64 input to a few MB at a time.
_INFERENCE_BATCH_SIZE = 4096
# uint8 input is read as 8-bit intensities: the model sees it divided by this.
_UINT8_SCALE = 255.0
# 'auto' treats 2-D data as square images only from this side up: a 3x3 conv
# over 9 tabular features is rarely what anyone wants.
_MIN_AUTO_IMAGE_SIDE = 4


def _as_tuple(value, name, length=None):
    """A tuple of positive ints from an int or a sequence; ``name`` for errors."""
    if isinstance(value, Integral):
        if length is None:
            raise TypeError(f"{name} must be a sequence of positive ints, got {value!r}.")
        value = (value,) * length
    try:
        values = tuple(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an int or a sequence of positive ints, got {value!r}."
        ) from None
    if not all(isinstance(v, Integral) and not isinstance(v, bool) and v > 0 for v in values):
        raise ValueError(f"{name} must contain positive ints only, got {value!r}.")
    if length is not None and len(values) != length:
        raise ValueError(
            f"{name} has {len(values)} entries but conv_filters has {length}; "
            "give one kernel and one stride per conv layer."
        )
    return tuple(int(v) for v in values)


@contextlib.contextmanager
def _named_conversion_errors(X, name):
    """Re-raise NumPy's and scikit-learn's conversion errors naming ``name``.

    ``could not convert string to float: 'x'`` names neither the array nor
    the column, and the complex-data error prints the whole array.
    """
    try:
        yield
    except (TypeError, ValueError) as error:
        message = str(error)
        if message.startswith("Complex data not supported"):
            raise ValueError(
                f"Complex data not supported: {name} has a complex dtype, but the "
                "autoencoder needs real numbers (take .real or np.abs first)."
            ) from None
        if "inhomogeneous" in message:
            raise ValueError(
                f"{name} is ragged: every row must have the same number of values. "
                f"NumPy said: {message}"
            ) from None
        if "convert string to float" not in message and "argument must be" not in message:
            raise
        columns = getattr(X, "columns", None)
        dtypes = getattr(X, "dtypes", None)
        culprits = ""
        if columns is not None and dtypes is not None:
            non_numeric = [
                str(column)
                for column, dtype in zip(columns, dtypes, strict=True)
                if getattr(dtype, "kind", "O") not in "biuf"
            ]
            culprits = f" (non-numeric columns: {', '.join(non_numeric)})"
        raise type(error)(
            f"{name} must contain real numbers only{culprits}; encode or drop "
            f"non-numeric values first. NumPy said: {message}"
        ) from error


def _check_float32_range(X, name):
    """Reject values that become inf in the float32 the network computes in."""
    if X.dtype != np.float64 or X.size == 0:
        return
    largest = max(float(X.max()), -float(X.min()))
    if largest > float(np.finfo(np.float32).max):
        raise ValueError(
            f"{name} contains values of magnitude up to {largest:.3g}, beyond the float32 "
            f"range (about {np.finfo(np.float32).max:.3g}) the network computes in; "
            f"rescale {name}."
        )


@contextlib.contextmanager
def _restored_on_failure(estimator):
    """Put the estimator's attributes back if the block raises (even Ctrl-C).

    A failed ``fit`` on a fitted estimator must leave the previous model
    usable: ``validate_data`` alone already resets ``n_features_in_``, and
    continued training (``warm_start``, ``partial_fit``) updates the fitted
    weights and optimiser state in place, so those are snapshotted too.
    """
    previous = dict(estimator.__dict__)
    trainer = previous.get("_trainer")
    variables = [] if trainer is None else [*trainer.variables, *trainer.optimizer.variables]
    values = [variable.numpy() for variable in variables]
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(previous)
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
        raise


def _limit_tensorflow_threads():
    """Give TensorFlow the thread budget that a parallel caller has set.

    joblib's loky workers and dask workers set ``OMP_NUM_THREADS`` to their
    share of the cores, but TensorFlow sizes its pools from the core count,
    so ``GridSearchCV(n_jobs=2)`` on 2 cores would run 2 x 2 busy threads.
    TensorFlow accepts the setting only before its runtime starts, so in a
    process that already ran TensorFlow this is a no-op.
    """
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if not threads.isdigit() or int(threads) < 1:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))
    except RuntimeError:
        pass  # the runtime is already initialised; its pools cannot change


_FLOAT_DTYPES = [np.float64, np.float32]


def _output_dtype(X):
    """float32 for float32 input, float64 for everything else (uint8 included)."""
    return X.dtype if X.dtype in _FLOAT_DTYPES else np.dtype(np.float64)


def _model_to_bytes(model):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        model.save(path)
        with open(path, "rb") as file:
            return file.read()


def _model_from_bytes(data):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        with open(path, "wb") as file:
            file.write(data)
        return keras.saving.load_model(path, compile=False)


class VariationalAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Variational autoencoder with a convolutional or dense Keras network.

    The encoder maps each sample to a diagonal Gaussian posterior
    ``q(z | x) = N(mu, exp(log_var))`` over ``latent_dim`` dimensions; the
    decoder maps a latent point back to data space. Training minimises the
    batch mean of ``alpha * mse(x, x_hat) + KL(q(z | x) || N(0, I))`` with
    Adam, where ``x_hat`` is decoded from ``z = mu + exp(log_var / 2) * eps``.

    ``transform`` returns the posterior mean ``mu``, ``inverse_transform``
    decodes latent points, ``sample`` decodes draws from the prior, and
    ``score_samples`` returns a lower bound on ``log p(x)`` in nats, which
    makes ``score`` a held-out log-likelihood comparable across ``alpha`` and
    ``latent_dim`` (``GridSearchCV`` can use it without a ``scoring``).

    Parameters
    ----------
    latent_dim : int, default=2
        Number of latent dimensions, i.e. columns of ``transform``'s output.

    alpha : float, default=5000.0
        Weight of the per-feature mean squared error against the KL term.
        It fixes the variance of the implied Gaussian decoder,
        ``sigma^2 = n_features / (2 * alpha)``: larger values trust the
        reconstruction more (sharper, less regular latent space), smaller
        values pull posteriors to the prior. The held-out score peaks where
        ``sigma^2`` is near the reconstruction error. The default gives
        ``sigma = 0.28`` on 28x28 images in [0, 1], about 1.4 times the
        error a 2-D latent space reaches on MNIST: the score is near its
        best (on MNIST it beat alpha=1000 by 460 nats per image and
        alpha=20000 by 90, at the same reconstruction error) while the KL
        term still keeps the latent space smooth. For other image sizes or
        scales, tune it with ``GridSearchCV``: ``score`` is comparable across
        values.

    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of the rows of
        2-D input, in row-major (C) order with channels last. Ignored for 4-D
        input, whose shape is used. When ``None``, 2-D input with a square
        number of features of at least 16 is read as a square one-channel
        image.

    architecture : {"auto", "conv", "dense"}, default="auto"
        ``"conv"``: mirrored Conv2D / Conv2DTranspose stacks; ``"dense"``: a
        multi-layer perceptron; ``"auto"``: conv when the input is an image
        (4-D input, ``image_shape`` given, or a square feature count of at
        least 16), dense otherwise.

    conv_filters : tuple of int, default=(32, 64, 64, 64)
        Filters of each encoder convolution; the decoder mirrors them.

    conv_kernels : int or tuple of int, default=3
        Kernel size of each convolution (one int for all).

    conv_strides : int or tuple of int, default=(1, 2, 2, 1)
        Stride of each convolution (one int for all). Their product may not
        exceed the smaller image side.

    hidden_layer_sizes : tuple of int, default=(256, 128)
        Hidden units of the dense encoder; the decoder mirrors them.

    batch_norm : bool, default=False
        Whether to put BatchNormalization after each hidden layer. Off by
        default: on MNIST it slowed fitting and gave a worse held-out error.

    output_activation : {"auto", "sigmoid", "linear"}, default="auto"
        Activation of the decoder's output. ``"auto"`` uses ``"sigmoid"`` when
        all training data lie in [0, 1] and ``"linear"`` otherwise.

    epochs : int, default=50
        Maximum number of passes over the training data.

    batch_size : int, default=32
        Samples per gradient step (on MNIST, 32 reached a given error in less
        time than 64); clipped (with a warning) to the number of
        training samples.

    learning_rate : float, default=1e-3
        Adam's learning rate.

    validation_fraction : float, default=0.1
        Fraction of the samples held out to report validation losses in
        ``history_`` and to drive early stopping. ``0`` holds out nothing.
        When it would leave no sample on either side, nothing is held out.

    early_stopping : bool, default=True
        Stop when the validation loss (the training loss if nothing is held
        out) has not improved for ``n_iter_no_change`` epochs, and restore the
        weights of the best epoch.

    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.

    n_importance_samples : int, default=1
        Latent draws per sample in ``score_samples``. ``1`` gives the ELBO
        (with the KL term in closed form); ``k > 1`` gives the tighter
        importance-weighted bound of Burda et al. (2016).

    warm_start : bool, default=False
        When ``True``, ``fit`` on a fitted estimator continues training the
        current model (same layout required) instead of building a new one;
        ``history_`` and ``n_iter_`` accumulate.

    distribute_strategy : tf.distribute.Strategy, default=None
        Strategy under whose scope the model is built and trained, e.g.
        ``tf.distribute.MirroredStrategy()`` for data-parallel training over
        several devices. ``None`` uses TensorFlow's default device. A strategy
        belongs to one process: it is not pickled (it comes back as ``None``).

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the validation split, the shuffling,
        the sampling noise during training and the draws of
        ``score_samples``. An int makes ``fit`` reproducible (it also enables
        TensorFlow op determinism during ``fit``, restored afterwards).

    verbose : int, default=0
        0 is silent, 1 shows a progress bar, 2 one line per epoch.

    Attributes
    ----------
    encoder_ : keras.Model
        The trained encoder, ``x -> [mu, log_var]``.

    decoder_ : keras.Model
        The trained decoder, ``z -> x_hat``.

    image_shape_ : tuple of int or None
        ``(height, width, channels)`` of the samples, or ``None`` for tabular
        data.

    architecture_ : str
        ``"conv"`` or ``"dense"``, as resolved from ``architecture``.

    output_activation_ : str
        ``"sigmoid"`` or ``"linear"``, as resolved from ``output_activation``.

    history_ : dict of str to list of float
        Per-epoch ``loss``, ``reconstruction_loss`` and ``kl_loss``, and the
        same with a ``val_`` prefix when data were held out.

    n_iter_ : int
        Number of epochs run.

    n_features_in_ : int
        Number of features seen during ``fit`` (pixels times channels).

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    sklearn.decomposition.PCA : Linear latent space with a closed-form fit.
    sklearn.mixture.GaussianMixture : Density model with ``sample`` and
        ``score_samples``.

    References
    ----------
    D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    Y. Burda, R. Grosse and R. Salakhutdinov, "Importance Weighted
    Autoencoders", ICLR 2016.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import VariationalAutoencoder
    >>> X = load_digits().data[:200] / 16
    >>> vae = VariationalAutoencoder(latent_dim=2, epochs=2, random_state=0)
    >>> vae.fit_transform(X).shape
    (200, 2)
    >>> vae.image_shape_, vae.architecture_
    ((8, 8, 1), 'conv')
    >>> vae.inverse_transform(vae.transform(X[:3])).shape
    (3, 64)
    """

    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "image_shape": [None, tuple, list],
        "architecture": [StrOptions({"auto", "conv", "dense"})],
        "conv_filters": [tuple, list],
        "conv_kernels": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "conv_strides": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "hidden_layer_sizes": [tuple, list],
        "batch_norm": ["boolean"],
        "output_activation": [StrOptions({"auto", "sigmoid", "linear"})],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "n_importance_samples": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "distribute_strategy": [None, tf.distribute.Strategy],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        latent_dim=2,
        *,
        alpha=5000.0,
        image_shape=None,
        architecture="auto",
        conv_filters=(32, 64, 64, 64),
        conv_kernels=3,
        conv_strides=(1, 2, 2, 1),
        hidden_layer_sizes=(256, 128),
        batch_norm=False,
        output_activation="auto",
        epochs=50,
        batch_size=32,
        learning_rate=1e-3,
        validation_fraction=0.1,
        early_stopping=True,
        n_iter_no_change=5,
        n_importance_samples=1,
        warm_start=False,
        distribute_strategy=None,
        random_state=None,
        verbose=0,
    ):
        self.latent_dim = latent_dim
        self.alpha = alpha
        self.image_shape = image_shape
        self.architecture = architecture
        self.conv_filters = conv_filters
        self.conv_kernels = conv_kernels
        self.conv_strides = conv_strides
        self.hidden_layer_sizes = hidden_layer_sizes
        self.batch_norm = batch_norm
        self.output_activation = output_activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.n_importance_samples = n_importance_samples
        self.warm_start = warm_start
        self.distribute_strategy = distribute_strategy
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder on ``X``.

        With ``warm_start=True`` and an already fitted model, training
        continues from the current weights and optimiser state for up to
        ``epochs`` more epochs; otherwise a new model is built.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, height, width, channels)
            Training data. Rows of 2-D input are read as images of
            ``image_shape`` when the architecture is convolutional. uint8
            data are read as 8-bit intensities and divided by 255 batch by
            batch (no float copy of the whole array is made, so a
            ``numpy.memmap`` stays on disk); outputs are scaled back.

        y : None
            Ignored.

        Returns
        -------
        self : VariationalAutoencoder
            The fitted estimator.

        Raises
        ------
        ValueError
            If the training loss or the weights become non-finite (too large
            a ``learning_rate`` or ``alpha``, or badly scaled ``X``). Training
            stops at the first non-finite batch and the estimator keeps the
            state it had before this call: a diverged model is never kept.
            Any other failure, ``KeyboardInterrupt`` included, also leaves the
            previous state untouched.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VariationalAutoencoder
        >>> X = np.random.default_rng(0).random((50, 3))
        >>> vae = VariationalAutoencoder(epochs=3, random_state=0).fit(X)
        >>> vae.architecture_, vae.n_iter_
        ('dense', 3)
        """
        continuing = self.warm_start and hasattr(self, "encoder_")
        return self._fit(X, epochs=self.epochs, continuing=continuing, hold_out=True)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Run one pass (epoch) of training over ``X``.

        The first call builds the model; later calls continue from the
        current weights and optimiser state. Nothing is held out and early
        stopping does not apply.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, height, width, channels)
            A chunk of training data, in the layout of the first call.

        y : None
            Ignored.

        Returns
        -------
        self : VariationalAutoencoder
            The updated estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VariationalAutoencoder
        >>> X = np.random.default_rng(0).random((120, 3))
        >>> vae = VariationalAutoencoder(random_state=0)
        >>> for chunk in np.array_split(X, 3):
        ...     vae = vae.partial_fit(chunk)
        >>> vae.n_iter_
        3
        """
        return self._fit(X, epochs=1, continuing=hasattr(self, "encoder_"), hold_out=False)

    def _fit(self, X, *, epochs, continuing, hold_out):
        _limit_tensorflow_threads()
        with _restored_on_failure(self):
            X, input_image_shape = self._validate_samples(X, reset=not continuing)
            if not continuing:
                self._resolve_layout(X, input_image_shape)
            seeds = check_random_state(self.random_state).randint(_MAX_SEED, size=4)
            # Continued training is offset by the epochs run so far, so it sees new
            # orders; a fresh fit must not be, or refitting would differ from fitting.
            data_seed = int(seeds[2]) + (self.n_iter_ if continuing else 0)
            train_rows, validation_rows = self._split(len(X), seeds[0], hold_out)
            strategy = self.distribute_strategy
            scope = strategy.scope() if strategy else contextlib.nullcontext()
            with deterministic_ops(enabled=self.random_state is not None), scope:
                if not continuing:
                    trainer = self._build_trainer(int(seeds[1]))
                elif hasattr(self, "_trainer"):
                    trainer = self._trainer
                else:  # unpickled: the optimiser state was not saved
                    trainer = self._compiled_trainer(self.encoder_, self.decoder_, int(seeds[1]))
                history = self._run_epochs(
                    trainer, X, train_rows, validation_rows, epochs=epochs, data_seed=data_seed
                )
            if continuing:
                history = {k: self.history_.get(k, []) + v for k, v in history.items()}
            else:
                self.encoder_, self.decoder_ = trainer.encoder, trainer.decoder
                self._scoring_seed = int(seeds[3])
            self._trainer = trainer
            self.history_ = history
            self.n_iter_ = len(history["loss"])
            self._compiled = CompiledVAE(self.encoder_, self.decoder_, self.alpha)
        return self

    def _resolve_layout(self, X, input_image_shape):
        """Set the fitted layout: image shape, architecture, activation, scale."""
        n_features = X.shape[1]
        image_shape = input_image_shape
        if image_shape is None and self.image_shape is not None:
            image_shape = _as_tuple(self.image_shape, "image_shape")
            if len(image_shape) == 2:
                image_shape = (*image_shape, 1)
            if len(image_shape) != 3 or math.prod(image_shape) != n_features:
                raise ValueError(
                    f"image_shape={self.image_shape!r} does not fit X with {n_features} "
                    "features: expected (height, width) or (height, width, channels) "
                    f"whose product is {n_features}."
                )
        side = math.isqrt(n_features)
        if (
            image_shape is None
            and self.architecture != "dense"
            and side * side == n_features
            and (self.architecture == "conv" or side >= _MIN_AUTO_IMAGE_SIDE)
        ):
            image_shape = (side, side, 1)
        if self.architecture == "conv" and image_shape is None:
            raise ValueError(
                f"architecture='conv' needs images, but X has {n_features} features, "
                "which is not a square number; pass image_shape=(height, width[, "
                "channels]), 4-D input, or use architecture='dense'."
            )
        self.image_shape_ = image_shape
        self.architecture_ = "dense" if image_shape is None else self.architecture
        if self.architecture_ == "auto":
            self.architecture_ = "conv"
        if self.architecture_ == "conv":
            self._conv_layers()  # validates the conv parameters against the image
        self._fitted_on_images = input_image_shape is not None
        self._input_scale = _UINT8_SCALE if X.dtype == np.uint8 else 1.0
        if self.output_activation != "auto":
            self.output_activation_ = self.output_activation
        elif X.dtype == np.uint8 or (X.min() >= 0 and X.max() <= 1):
            self.output_activation_ = "sigmoid"
        else:
            self.output_activation_ = "linear"

    def _conv_layers(self):
        filters = _as_tuple(self.conv_filters, "conv_filters")
        if not filters:
            raise ValueError("conv_filters must name at least one conv layer, got ().")
        kernels = _as_tuple(self.conv_kernels, "conv_kernels", len(filters))
        strides = _as_tuple(self.conv_strides, "conv_strides", len(filters))
        height, width, _ = self.image_shape_
        if math.prod(strides) > min(height, width):
            raise ValueError(
                f"conv_strides={self.conv_strides!r} downsample by {math.prod(strides)}, "
                f"more than the smaller side of the {height}x{width} images; use "
                "fewer or smaller strides."
            )
        return {"conv_filters": filters, "conv_kernels": kernels, "conv_strides": strides}

    def _split(self, n_samples, seed, hold_out):
        """Train and validation row indices."""
        n_validation = min(int(self.validation_fraction * n_samples), n_samples - 1)
        if not hold_out:
            n_validation = 0
        order = np.random.default_rng(seed).permutation(n_samples)
        return np.sort(order[n_validation:]), np.sort(order[:n_validation])

    def _build_trainer(self, seed):
        sample_shape = self._sample_shape()
        network = dict(
            architecture=self.architecture_,
            hidden_layer_sizes=_as_tuple(self.hidden_layer_sizes, "hidden_layer_sizes"),
            batch_norm=self.batch_norm,
            seed=seed,
            **(self._conv_layers() if self.architecture_ == "conv" else {}),
        )
        encoder = build_encoder(sample_shape, self.latent_dim, **network)
        decoder = build_decoder(
            sample_shape, self.latent_dim, output_activation=self.output_activation_, **network
        )
        return self._compiled_trainer(encoder, decoder, seed)

    def _compiled_trainer(self, encoder, decoder, seed=None):
        trainer = VAETrainer(encoder, decoder, self.alpha, seed=seed)
        trainer.compile(optimizer=SingleReplicaAdam(self.learning_rate))
        # Built lazily inside the traced train step, Adam creates its slots
        # under tf.cond, whose branch functions stay registered in the eager
        # context for the life of the process: about 8 MB leaked per fit.
        trainer.optimizer.build(trainer.trainable_variables)
        return trainer

    def _run_epochs(self, trainer, X, train_rows, validation_rows, *, epochs, data_seed):
        """Train for up to ``epochs`` epochs; return the Keras history as floats."""
        batch_size = self.batch_size
        if batch_size > len(train_rows):
            warnings.warn(
                f"batch_size={batch_size} is larger than the {len(train_rows)} training "
                "samples; it is clipped to the number of samples.",
                UserWarning,
                stacklevel=3,
            )
            batch_size = len(train_rows)
        # alpha and learning_rate may have changed since the trainer was built.
        trainer.alpha = float(self.alpha)
        trainer.optimizer.learning_rate.assign(self.learning_rate)

        def dataset(rows, shuffle):
            return training_dataset(
                X,
                rows,
                batch_size=batch_size,
                sample_shape=self._sample_shape(),
                scale=self._input_scale,
                seed=data_seed,
                shuffle=shuffle,
            )

        has_validation = len(validation_rows) > 0
        callbacks = [keras.callbacks.TerminateOnNaN()]
        if self.early_stopping and epochs > 1:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss" if has_validation else "loss",
                    patience=self.n_iter_no_change,
                    restore_best_weights=True,
                )
            )
        keras_history = trainer.fit(
            dataset(train_rows, shuffle=True),
            validation_data=dataset(validation_rows, shuffle=False) if has_validation else None,
            epochs=epochs,
            shuffle=False,  # the dataset shuffles itself, reproducibly
            verbose=self.verbose,
            callbacks=callbacks,
        )
        history = {
            name: [float(value) for value in values]
            for name, values in keras_history.history.items()
        }
        self._check_finite(history, trainer)
        return history

    def _check_finite(self, history, trainer):
        losses = history.get("loss", [])
        if np.all(np.isfinite(losses)) and all(
            np.all(np.isfinite(w)) for w in trainer.get_weights()
        ):
            return
        raise ValueError(
            f"Training diverged: the loss became non-finite at epoch {len(losses)} "
            f"(learning_rate={self.learning_rate}, alpha={self.alpha}). Lower "
            "learning_rate or alpha, or rescale X (e.g. to [0, 1]); the estimator "
            "keeps its previous state."
        )

    # ------------------------------------------------------------ inference

    def transform(self, X):
        """Posterior mean ``mu`` of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, height, width, channels)
            Samples in the layout seen by ``fit``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, latent_dim)
            Latent means, float32 for float32 input, float64 otherwise.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VariationalAutoencoder
        >>> X = np.random.default_rng(0).random((40, 4)).astype(np.float32)
        >>> vae = VariationalAutoencoder(latent_dim=3, epochs=2, random_state=0).fit(X)
        >>> Z = vae.transform(X)
        >>> Z.shape, Z.dtype
        ((40, 3), dtype('float32'))
        """
        check_is_fitted(self)
        X, _ = self._validate_samples(X, reset=False)
        mu = [self._compiled.encode(batch)[0] for batch in self._model_batches(X)]
        return self._concatenate(mu, (0, self.latent_dim)).astype(_output_dtype(X), copy=False)

    def inverse_transform(self, X):
        """Decode latent points into data space.

        Parameters
        ----------
        X : array-like of shape (n_samples, latent_dim)
            Latent points, e.g. the output of ``transform``.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features) or \
                (n_samples, height, width, channels)
            Decoder means, in the layout that ``fit`` received; float32 for
            float32 input, float64 otherwise.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VariationalAutoencoder
        >>> X = np.random.default_rng(0).random((40, 6, 6, 1))
        >>> vae = VariationalAutoencoder(epochs=2, random_state=0).fit(X)
        >>> vae.inverse_transform(vae.transform(X)).shape
        (40, 6, 6, 1)
        """
        check_is_fitted(self)
        if not sparse.issparse(X) and len(getattr(X, "shape", ())) > 2:
            raise ValueError(
                f"X must be 2-D (n_samples, latent_dim={self.latent_dim}), got a "
                f"{len(X.shape)}-D array of shape {tuple(X.shape)}."
            )
        with _named_conversion_errors(X, "X"):
            Z = check_array(X, dtype=_FLOAT_DTYPES, input_name="X")
        _check_float32_range(Z, "X")
        if Z.shape[1] != self.latent_dim:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform expects "
                f"latent_dim={self.latent_dim} columns (the output of transform)."
            )
        return self._decode(Z).astype(Z.dtype, copy=False)

    def sample(self, n_samples=1, random_state=None):
        """Generate samples by decoding draws from the prior ``N(0, I)``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.

        random_state : int, RandomState instance or None, default=None
            Seeds the latent draws; an int makes the output reproducible.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features) or \
                (n_samples, height, width, channels)
            Decoder means at the drawn latent points, float64, in the layout
            that ``fit`` received.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VariationalAutoencoder
        >>> X = np.random.default_rng(0).random((40, 5))
        >>> vae = VariationalAutoencoder(epochs=2, random_state=0).fit(X)
        >>> vae.sample(3, random_state=0).shape
        (3, 5)
        """
        check_is_fitted(self)
        if isinstance(n_samples, (bool, np.bool_)):
            raise TypeError(f"n_samples must be an int, not bool ({n_samples!r}).")
        check_scalar(n_samples, "n_samples", Integral, min_val=1)
        rng = check_random_state(random_state)
        return self._decode(rng.standard_normal((n_samples, self.latent_dim)))

    def score_samples(self, X):
        """Lower bound on the log-likelihood ``log p(x)`` of each sample, in nats.

        The decoder is read as ``p(x | z) = N(x_hat(z), sigma^2 I)`` with
        ``sigma^2 = n_features / (2 * alpha)``, under which the training loss
        is the negative ELBO minus a constant. With ``n_importance_samples=k``
        latent draws ``z_i ~ q(z | x)`` the estimate is

        ``log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x)``,

        which for ``k = 1`` is the usual ELBO estimate with the KL term in
        closed form, ``log p(x | z_1) - KL(q(z | x) || p(z))``. Each sample's draws are
        seeded by the seed fixed at ``fit`` and by the sample's own values,
        so repeated calls agree, a sample's score does not depend on the
        other rows, and distinct samples get independent draws (whose noise
        averages out in ``score``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, height, width, channels)
            Samples in the layout seen by ``fit``.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            Per-sample bound in nats, float64.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VariationalAutoencoder
        >>> X = np.random.default_rng(0).random((40, 3))
        >>> vae = VariationalAutoencoder(epochs=2, random_state=0).fit(X)
        >>> scores = vae.score_samples(X)
        >>> scores.shape, bool(np.all(np.isfinite(scores)))
        ((40,), True)
        """
        check_is_fitted(self)
        X, _ = self._validate_samples(X, reset=False)
        n_draws = self.n_importance_samples
        scores = []
        # Batches of at most _INFERENCE_BATCH_SIZE latent draws bound the
        # float64 draws held at once; one row per batch beyond that.
        for x in self._model_batches(X, max(1, _INFERENCE_BATCH_SIZE // n_draws)):
            mu, log_var = (v.astype(np.float64) for v in self._compiled.encode(x))
            log_weights = self._log_weights(x, mu, log_var, self._scoring_noise(x, n_draws))
            scores.append(logsumexp(log_weights, axis=1) - math.log(n_draws))
        # A density over X = scale * x is the density over x divided by scale^D.
        return self._concatenate(scores, (0,)) - self.n_features_in_ * math.log(self._input_scale)

    def _scoring_noise(self, x, n_draws):
        """``N(0, I)`` draws of shape ``(len(x), n_draws, latent_dim)``, one stream per row.

        Each row's generator is seeded by ``_scoring_seed`` and a hash of the
        row's float32 values. One stream shared by all rows would also make
        scores independent of the other rows, but it shifts every sample's
        score alike, so ``score`` would keep the noise of a single draw (a few
        nats on MNIST) however many samples it averages.
        """
        noise = np.empty((len(x), n_draws, self.latent_dim))
        for i, row in enumerate(np.ascontiguousarray(x, dtype=np.float32)):
            row_hash = hashlib.blake2b(row.tobytes(), digest_size=8).digest()
            rng = np.random.default_rng([self._scoring_seed, int.from_bytes(row_hash, "little")])
            noise[i] = rng.standard_normal((n_draws, self.latent_dim))
        return noise

    def _log_weights(self, x, mu, log_var, eps):
        """``log p(x|z) + log p(z) - log q(z|x)`` per sample and draw (float64).

        ``eps`` holds each sample's standard normal draws, ``(n, k, latent_dim)``.
        With a single draw the closed-form KL replaces ``log p(z) - log q``.
        """
        z = mu[:, None, :] + np.exp(0.5 * log_var)[:, None, :] * eps
        log_likelihood = self._compiled.log_likelihood(x, z.astype(np.float32))
        log_likelihood = log_likelihood.astype(np.float64)
        if self.n_importance_samples == 1:
            return log_likelihood - np.asarray(kl_loss(mu, log_var))[:, None]
        log_prior = np.asarray(standard_normal_log_density(z))
        log_posterior = np.asarray(
            diagonal_normal_log_density(z, mu[:, None, :], log_var[:, None, :])
        )
        return log_likelihood + log_prior - log_posterior

    def score(self, X, y=None):
        """Mean of ``score_samples(X)``: average log-likelihood bound in nats.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, height, width, channels)
            Samples in the layout seen by ``fit``.

        y : None
            Ignored.

        Returns
        -------
        score : float
            Mean per-sample bound; higher is better.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VariationalAutoencoder
        >>> X = np.random.default_rng(0).random((40, 3))
        >>> vae = VariationalAutoencoder(epochs=2, random_state=0).fit(X)
        >>> isinstance(vae.score(X), float)
        True
        """
        return float(np.mean(self.score_samples(X)))

    def interpolate(self, x_start, x_end, n_steps=8):
        """Decode evenly spaced points between the latent means of two samples.

        The classic VAE "morph": both samples are encoded to their posterior
        means ``mu_start`` and ``mu_end``, and the points
        ``(1 - t) * mu_start + t * mu_end`` for ``n_steps`` values of ``t``
        from 0 to 1 are decoded.

        Parameters
        ----------
        x_start : array-like of shape (n_features,), (height, width[, channels]) \
                or a batch of one
            First sample: a 1-D row, one image, or a single-row 2-D or 4-D batch.

        x_end : array-like, same shapes as ``x_start``
            Last sample.

        n_steps : int, default=8
            Number of decoded points, both ends included; at least 2.

        Returns
        -------
        X_path : ndarray of shape (n_steps, n_features) or \
                (n_steps, height, width, channels)
            Decoded points, first to last, in the layout that ``fit`` received.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VariationalAutoencoder
        >>> X = np.random.default_rng(0).random((40, 8, 8, 1))
        >>> vae = VariationalAutoencoder(epochs=2, batch_size=16, random_state=0).fit(X)
        >>> vae.interpolate(X[0], X[1], n_steps=5).shape
        (5, 8, 8, 1)
        """
        check_is_fitted(self)
        check_scalar(n_steps, "n_steps", Integral, min_val=2)
        mu_start = self.transform(self._one_sample(x_start, "x_start"))
        mu_end = self.transform(self._one_sample(x_end, "x_end"))
        t = np.linspace(0.0, 1.0, n_steps, dtype=mu_start.dtype)[:, None]
        return self.inverse_transform((1 - t) * mu_start + t * mu_end)

    def _one_sample(self, x, name):
        """``x`` as a batch of one row; ``name`` for errors."""
        if getattr(x, "ndim", None) == 2 and hasattr(x, "columns") and len(x) == 1:
            return x  # a one-row DataFrame keeps its feature names
        array = np.asarray(x)
        n_features = self.n_features_in_
        accepted = {(n_features,), (1, n_features)}
        if self.image_shape_ is not None:
            accepted |= {self.image_shape_, (1, *self.image_shape_)}
            if self.image_shape_[2] == 1:
                accepted.add(self.image_shape_[:2])
        if array.shape not in accepted:
            raise ValueError(
                f"{name} must be one sample: a row of {n_features} features"
                + (f" or an image of shape {self.image_shape_}" if self.image_shape_ else "")
                + f", got an array of shape {array.shape}."
            )
        return array.reshape(1, n_features)

    @property
    def decoder_variance_(self):
        """Variance ``n_features_in_ / (2 * alpha)`` of the implied Gaussian decoder.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VariationalAutoencoder
        >>> X = np.random.default_rng(0).random((40, 8))
        >>> VariationalAutoencoder(alpha=40.0, epochs=1).fit(X).decoder_variance_
        0.1
        """
        check_is_fitted(self)
        return decoder_variance(self.alpha, self.n_features_in_)

    @property
    def _n_features_out(self):
        # Read from the fitted decoder, so it is missing (as for PCA) before fit.
        return self.decoder_.input_shape[-1]

    # -------------------------------------------------------------- helpers

    def _sample_shape(self):
        return self.image_shape_ if self.image_shape_ is not None else (self.n_features_in_,)

    def _validate_samples(self, X, *, reset):
        """Validated 2-D float ``X`` and the image shape of 4-D input (else None)."""
        input_image_shape = None
        n_dims = 0 if sparse.issparse(X) else len(getattr(X, "shape", ()))
        if n_dims == 3 or n_dims > 4:
            raise ValueError(
                f"X must be 2-D (n_samples, n_features) or 4-D (n_samples, height, width, "
                f"channels), got a {n_dims}-D array of shape {tuple(X.shape)}."
            )
        if n_dims == 4:
            input_image_shape = tuple(int(d) for d in X.shape[1:])
            if not reset:
                # Before validate_data, whose feature-count error hides the image shape.
                self._check_image_shape(input_image_shape)
            X = np.reshape(np.asarray(X), (X.shape[0], math.prod(input_image_shape)))
        # uint8 stays uint8 (scaled batch by batch) so a large array or memmap
        # is never copied whole; other types become float.
        keep_uint8 = getattr(X, "dtype", None) == np.uint8
        with _named_conversion_errors(X, "X"):
            X = validate_data(self, X, reset=reset, dtype=None if keep_uint8 else _FLOAT_DTYPES)
        _check_float32_range(X, "X")
        return X, input_image_shape

    def _check_image_shape(self, input_image_shape):
        if self.image_shape_ is None:
            raise ValueError(
                f"X holds images of shape {input_image_shape}, but {type(self).__name__} "
                f"was fitted on 2-D data; pass X of shape (n_samples, {self.n_features_in_})."
            )
        if input_image_shape != self.image_shape_:
            raise ValueError(
                f"X holds images of shape {input_image_shape}, but "
                f"{type(self).__name__} was fitted on images of shape {self.image_shape_} "
                "(height, width, channels)."
            )

    def _model_batches(self, X, batch_size=_INFERENCE_BATCH_SIZE):
        return iter_batches(X, batch_size, self._sample_shape(), self._input_scale)

    def _decode(self, Z):
        decoded = [
            self._compiled.decode(batch)
            for batch in iter_batches(Z, _INFERENCE_BATCH_SIZE, (self.latent_dim,))
        ]
        decoded = self._concatenate(decoded, (0, *self._sample_shape())) * self._input_scale
        if self._fitted_on_images:
            return decoded.reshape((-1, *self.image_shape_))
        return decoded.reshape((-1, self.n_features_in_))

    @staticmethod
    def _concatenate(chunks, empty_shape):
        return np.concatenate(chunks) if chunks else np.empty(empty_shape, dtype=np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = self.random_state is None
        return tags

    # ---------------------------------------------------------- persistence

    def __getstate__(self):
        # object.__getstate__ returns the live __dict__ on Python >= 3.11: copy it.
        state = dict(super().__getstate__())
        state.pop("_compiled", None)
        state.pop("_trainer", None)
        state["distribute_strategy"] = None
        for name in ("encoder_", "decoder_"):
            if name in state:
                state[name] = _model_to_bytes(state[name])
        return state

    def __setstate__(self, state):
        for name in ("encoder_", "decoder_"):
            if name in state:
                state[name] = _model_from_bytes(state[name])
        super().__setstate__(state)
        if "encoder_" in state:
            self._compiled = CompiledVAE(self.encoder_, self.decoder_, self.alpha)
