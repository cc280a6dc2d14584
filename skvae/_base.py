"""What every skvae estimator shares: the parameters, the fit run and the fitted state.

:class:`BaseVAE` holds the one constructor of the shared parameters and
their constraints (their documentation is ``_parameters``), coordinates one
fit (validation, layout, training, the decoder variance) and reads the
fitted state back for inference (layout, decoding, pickling). The public
estimators in ``_estimator.py`` and ``_imputer.py`` add their own
parameters, documentation and public methods. As in scikit-learn's
``mixture/_base.py``, the base class holds no math: each step calls the
module named for its concern.
"""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import validate_data

from . import _scoring
from ._backends import backend
from ._columns import HANDLE_UNKNOWN, check_columns_unchanged, infer_columns
from ._compat import Interval, StrOptions
from ._data import iter_batches
from ._inference import INFERENCE_BATCH_SIZE, CompiledVAE
from ._layout import auto_hidden_layer_sizes, network_structure, resolve_layout
from ._likelihoods import LIKELIHOOD_NAMES
from ._logs import retracing_warnings_silenced
from ._model import NetworkStructure, NoiseModel
from ._parameters import with_shared_parameters
from ._persistence import picklable_state, unpickled_state
from ._seeding import draw_seeds
from ._training import (
    NETWORK_PARAMETERS,
    TABLE_TRAINING_DRAWS,
    Objective,
    Schedule,
    check_network_unchanged,
    extend_history,
    restored_on_failure,
    train,
)
from ._validation import check_likelihood_settings, validate_samples


class BaseVAE(BaseEstimator):
    """Shared parameters, fit coordination and fitted state of a VAE estimator.

    Subclasses declare their own parameters in an ``__init__`` decorated
    with :func:`shared_parameters`, and the public methods. Hooks:
    :attr:`_missing_entries` and :meth:`_validate_training_samples` (data
    with missing entries), :meth:`_objective` (what training minimises) and
    :meth:`_finish_fit` (the subclass's own fitted state).
    """

    #: Constraints of the shared parameters (those of ``__init__``).
    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "likelihood": [StrOptions(LIKELIHOOD_NAMES)],
        "noise_scale": [StrOptions({"auto", "shared", "feature"})],
        "decoder_variance": [
            StrOptions({"fitted", "alpha"}),
            Interval(Real, 0, None, closed="neither"),
        ],
        "image_shape": [None, tuple, list],
        "architecture": [StrOptions({"auto", "conv", "dense"})],
        "conv_filters": [tuple, list],
        "conv_kernels": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "conv_strides": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "hidden_layer_sizes": [tuple, list, StrOptions({"auto"})],
        "batch_norm": ["boolean"],
        "output_activation": [StrOptions({"auto", "sigmoid", "linear"})],
        "epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_schedule": [StrOptions({"cosine", "constant"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "n_training_draws": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "n_importance_samples": [Interval(Integral, 1, None, closed="left")],
        "distribute_strategy": [None, *backend.STRATEGY_TYPES],
        "column_types": [None, dict],
        "handle_unknown": [StrOptions(set(HANDLE_UNKNOWN))],
        "categorical_weight": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        latent_dim=2,
        alpha="auto",
        likelihood="auto",
        noise_scale="auto",
        decoder_variance="fitted",
        image_shape=None,
        architecture="auto",
        conv_filters=(32, 64, 64, 64),
        conv_kernels=3,
        conv_strides=(1, 2, 2, 1),
        hidden_layer_sizes="auto",
        batch_norm=False,
        output_activation="auto",
        epochs="auto",
        batch_size=32,
        learning_rate=3e-3,
        learning_rate_schedule="cosine",
        validation_fraction=0.1,
        early_stopping=True,
        n_iter_no_change=5,
        n_training_draws=1,
        n_importance_samples=10,
        distribute_strategy=None,
        column_types=None,
        handle_unknown="error",
        categorical_weight=1.0,
        random_state=None,
        verbose=0,
    ):
        self.latent_dim = latent_dim
        self.alpha = alpha
        self.likelihood = likelihood
        self.noise_scale = noise_scale
        self.decoder_variance = decoder_variance
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
        self.learning_rate_schedule = learning_rate_schedule
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.n_training_draws = n_training_draws
        self.n_importance_samples = n_importance_samples
        self.distribute_strategy = distribute_strategy
        self.column_types = column_types
        self.handle_unknown = handle_unknown
        self.categorical_weight = categorical_weight
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_clone__(self):
        # A tf.distribute strategy holds this process's devices and threads:
        # the clone shares it instead of deep-copying it, as scikit-learn
        # clones an estimator parameter by parameter.
        strategy = self.distribute_strategy
        try:
            self.distribute_strategy = None
            clone = super().__sklearn_clone__()
        finally:
            self.distribute_strategy = strategy
        return clone.set_params(distribute_strategy=strategy)

    # ---------------------------------------------------------------- hooks

    #: How the encoder reads missing (NaN) entries (see ``_layout.Layout``);
    #: None: the data are complete.
    _missing_entries = None

    #: What ``hidden_layer_sizes="auto"`` resolves to, per architecture: one
    #: hidden layer on a table; for images the latent is read straight off
    #: the convolutions. A 256-unit layer there helps MNIST's 2-D latent maps
    #: but costs 16 latent dimensions and small images (benchmarks/README.md,
    #: "Time to a good model"), so it is for the user to ask for.
    _auto_hidden_layer_sizes = {"dense": (64,), "conv": ()}

    #: Whether a dense network on more than ``_layout.WIDE_TABLE_FEATURES``
    #: features gets wider, deeper ``"auto"`` layers
    #: (``_layout.auto_hidden_layer_sizes``) instead of the fixed ones.
    _widens_auto_layers = True

    def _validate_training_samples(self, X):
        """Validated 2-D training ``X`` (NaN where missing) and its image shape, if 4-D."""
        return validate_samples(self, X, reset=True)

    def _validate_training_table(self, X):
        """Training ``X`` validated as :meth:`_validate_training_samples`, and its columns.

        A mixed table (see ``_columns``) becomes the network's features,
        with its :class:`~skvae._columns.TableColumns`; other data take the
        numeric path, with None.
        """
        columns = infer_columns(X, self.column_types, self.handle_unknown)
        if columns is None:
            return (*self._validate_training_samples(X), None)
        return self._validate_training_mixed(X, columns), None, columns

    def _validate_training_mixed(self, X, columns):
        """The network's features of the training mixed table ``X``; a subclass adds checks."""
        return self._encoded_table(X, columns, reset=True)

    def _encoded_table(self, X, columns, *, reset):
        """The network's features of the mixed table ``X`` (see ``_columns``)."""
        columns.pandas_of_frame(X)
        # Sets or checks n_features_in_ and feature_names_in_, on the DataFrame's columns.
        validate_data(self, X, reset=reset, skip_check_array=True)
        if not len(X):  # check_array's refusal, which skip_check_array skips
            raise ValueError(
                f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is "
                f"required by {type(self).__name__}."
            )
        return columns.encode(X, allow_missing=self._missing_entries is not None)

    def _objective(self):
        """What training minimises, from the current parameters and the fitted layout."""
        noise_scale = self._layout.noise_scale
        # A family that cannot fit its noise to each batch learns it.
        learns_noise = self.alpha == "auto" and (
            noise_scale == "feature" or not self._layout.family.calibrates_on_batch
        )
        n_draws = self.n_training_draws
        if n_draws == "auto":
            n_draws = TABLE_TRAINING_DRAWS if self._layout.is_table else 1
        return Objective(
            alpha=self.alpha,
            n_draws=n_draws,
            learned_noise=noise_scale if learns_noise else None,
            categorical_weight=self.categorical_weight,
        )

    def _finish_fit(self, X):
        """Set the subclass's own fitted state from the validated training ``X``.

        It runs inside the fit's rollback: if it raises, the estimator keeps
        the state it had before the fit.
        """

    # ------------------------------------------------------------------ fit

    def _fit(self, X, *, epochs, continuing, partial=False):
        """Train on ``X``: a new model, or the fitted one when ``continuing``.

        ``partial`` (``partial_fit``): every row trains, at a constant
        learning rate, since a stream of calls has no end to anneal towards.
        """
        backend.check_strategy(self.distribute_strategy)
        backend.limit_threads()
        backend.allow_gpu_memory_growth()
        with restored_on_failure(self), retracing_warnings_silenced():
            if continuing:
                check_network_unchanged(self._network_parameters, self.get_params())
                check_columns_unchanged(
                    self._layout.columns, X, self.column_types, self.handle_unknown
                )
                X, _ = self._validate_samples(X)
                structure = None
            else:
                X, input_image_shape, columns = self._validate_training_table(X)
                self._layout = resolve_layout(
                    X,
                    input_image_shape,
                    image_shape=self.image_shape,
                    architecture=self.architecture,
                    output_activation=self.output_activation,
                    likelihood=self.likelihood,
                    noise_scale=self.noise_scale,
                    alpha=self.alpha,
                    missing_entries=self._missing_entries,
                    columns=columns,
                )
                structure = network_structure(
                    self._layout,
                    auto_hidden_layer_sizes=auto_hidden_layer_sizes(
                        self._layout,
                        self._auto_hidden_layer_sizes,
                        widens=self._widens_auto_layers,
                    ),
                    **{name: getattr(self, name) for name in NetworkStructure.parameter_names()},
                )
                self._network_parameters = {
                    name: getattr(self, name) for name in NETWORK_PARAMETERS
                }
            objective = self._objective()
            check_likelihood_settings(
                X,
                self._layout.family,
                self._layout.noise_scale,
                self.decoder_variance,
                objective.alpha,
                continuing=continuing,
            )
            seeds = draw_seeds(self.random_state, self.distribute_strategy, len(X))
            run = train(
                X,
                self._layout,
                objective,
                Schedule.from_epochs(
                    epochs,
                    complete_images=not (self._layout.is_table or objective.mask_augmentation),
                    batch_size=self.batch_size,
                    learning_rate=self.learning_rate,
                    learning_rate_schedule="constant" if partial else self.learning_rate_schedule,
                    validation_fraction=0.0 if partial else self.validation_fraction,
                    early_stopping=self.early_stopping,
                    n_iter_no_change=self.n_iter_no_change,
                    verbose=self.verbose,
                ),
                seeds=seeds,
                structure=structure,
                # Unpickled estimators have no trainer: their optimiser state was not saved.
                fitted=self._fitted_networks() if continuing else None,
                epochs_done=self.n_iter_ if continuing else 0,
                strategy=self.distribute_strategy,
                deterministic=self.random_state is not None,
            )
            if continuing:
                self.history_ = extend_history(self.history_, run.history, self.n_iter_)
            else:
                self.encoder_, self.decoder_ = run.trainer.encoder, run.trainer.decoder
                self._inference_seed = seeds.inference
                self.history_ = run.history
            self._trainer = run.trainer
            self.n_iter_ = len(self.history_["loss"])
            noise = run.trainer.noise
            learned_variance, self.decoder_df_ = _scoring.learned_noise(noise)
            self._noise_floor = None if noise is None else noise.floor
            if self.decoder_variance == "fitted" and learned_variance is not None:
                self.decoder_variance_ = learned_variance
                self._compiled = self._compile_inference()
            else:
                # The fitted variance needs the compiled networks: set it after.
                self._compiled = CompiledVAE(
                    self.encoder_,
                    self.decoder_,
                    likelihood=self._layout.family,
                    decoder_df=self.decoder_df_,
                )
                self.decoder_variance_ = _scoring.resolve_decoder_variance(
                    self.decoder_variance,
                    alpha=objective.alpha,
                    compiled=self._compiled,
                    X=X,
                    layout=self._layout,
                    rows=run.train_rows,
                    seed=self._inference_seed,
                )
                if self.decoder_variance_ is not None:
                    self._compiled.decoder_variance.assign(self.decoder_variance_)
            self._finish_fit(X)

    def _fitted_networks(self):
        """``(encoder, decoder, trainer, noise)`` for a continued fit (see ``_training.train``).

        An unpickled estimator has no trainer (its optimiser state was not
        saved); its learned noise restarts from the fitted values.
        """
        trainer = getattr(self, "_trainer", None)
        noise = None
        if trainer is None and self._noise_floor is not None:
            per_feature = self._layout.noise_scale == "feature"
            shape = self._layout.sample_shape if per_feature else ()
            df = self.decoder_df_
            # A numeric decoder_variance replaced the learned one for scoring:
            # training restarts from it, broadcast to the noise model's shape.
            noise = NoiseModel(
                np.broadcast_to(
                    np.reshape(self.decoder_variance_, (-1,)), (math.prod(shape),)
                ).reshape(shape),
                floor=self._noise_floor,
                df_floor=self._layout.family.min_df,
                initial_df=None if df is None else np.reshape(df, shape),
                name="noise",
            )
        return self.encoder_, self.decoder_, trainer, noise

    def _compile_inference(self):
        """The compiled inference functions of the fitted networks and noise."""
        return CompiledVAE(
            self.encoder_,
            self.decoder_,
            self.decoder_variance_,
            self._layout.family,
            decoder_df=self.decoder_df_,
        )

    # ----------------------------------------------------- fitted layout

    @property
    def image_shape_(self):
        """``(height, width, channels)`` of the samples, or None for tables."""
        return self._layout.image_shape

    @property
    def architecture_(self):
        """``"conv"`` or ``"dense"``, as resolved from ``architecture``."""
        return self._layout.architecture

    @property
    def output_activation_(self):
        """``"sigmoid"`` or ``"linear"``, as resolved from ``output_activation``."""
        return self._layout.output_activation

    @property
    def likelihood_(self):
        """The likelihood family's name, as resolved from ``likelihood``."""
        return self._layout.likelihood

    @property
    def noise_scale_(self):
        """``"shared"`` or ``"feature"``, as resolved from ``noise_scale``."""
        return self._layout.noise_scale

    @property
    def _n_features_out(self):
        # The latent size, read from the fitted decoder (missing before fit, as for PCA).
        return self.decoder_.input_shape[-1]

    def _validate_samples(self, X):
        """Validated 2-D ``X`` in the fitted layout, for the methods used after fit."""
        if self._layout.columns is not None:
            return self._encoded_table(X, self._layout.columns, reset=False), None
        return validate_samples(self, X, reset=False, fitted_image_shape=self.image_shape_)

    def _decode(self, Z, noise_rng=None):
        """Decoder means at latent points ``Z``, or draws from ``p(x | z)`` given ``noise_rng``."""
        latents = iter_batches(Z, INFERENCE_BATCH_SIZE, (self._n_features_out,))
        decoded = [self._compiled.decode(batch) for batch in latents]
        shape = (0, *self._layout.sample_shape)
        decoded = np.concatenate(decoded) if decoded else np.empty(shape, dtype=np.float32)
        if noise_rng is None:
            return self._layout.to_output(decoded)
        compiled = self._compiled
        means = np.asarray(compiled.family.mean(decoded))
        drawn = compiled.draw(means, compiled.standard_noise(noise_rng, decoded.shape))
        return self._layout.values_to_output(drawn)

    def _score_samples(self, X):
        """Log-likelihood bound of each row of validated 2-D ``X`` (of its observed entries)."""
        return _scoring.score_samples(
            self._compiled,
            X,
            self._layout,
            n_draws=self.n_importance_samples,
            seed=self._inference_seed,
        )

    # ---------------------------------------------------------- persistence

    def __getstate__(self):
        # object.__getstate__ returns the live __dict__ on Python >= 3.11.
        return picklable_state(super().__getstate__())

    def __setstate__(self, state):
        super().__setstate__(unpickled_state(state))
        if hasattr(self, "encoder_"):
            self._compiled = self._compile_inference()


def shared_parameters(**defaults):
    """Decorate a subclass's ``__init__`` so that it takes :class:`BaseVAE`'s parameters too.

    ``defaults`` are this estimator's defaults of shared parameters that
    differ from ``BaseVAE.__init__``'s; see ``_parameters.with_shared_parameters``.
    """
    return with_shared_parameters(BaseVAE.__init__, **defaults)
