"""What every skvae estimator shares: the fit run and the fitted state.

:class:`BaseVAE` coordinates one fit (validation, layout, training, the
decoder variance) and reads the fitted state back for inference (layout,
decoding, pickling); the public estimators in ``_estimator.py`` and
``_imputer.py`` add their parameters, documentation and public methods. As
in scikit-learn's ``mixture/_base.py``, the base class holds no math: each
step calls the module named for its concern.
"""

from numbers import Integral, Real

import numpy as np
import tensorflow as tf
from sklearn.base import BaseEstimator

from . import _scoring, _training
from ._compat import Interval, StrOptions, allow_gpu_memory_growth, limit_tensorflow_threads
from ._data import iter_batches
from ._inference import CompiledVAE
from ._layout import INFERENCE_BATCH_SIZE, resolve_layout
from ._persistence import picklable_state, unpickled_state
from ._validation import check_likelihood_settings, validate_samples


class BaseVAE(BaseEstimator):
    """Fit coordination and fitted state of a variational autoencoder estimator.

    Subclasses define ``__init__`` with the parameters read here (those of
    :class:`~skvae.VariationalAutoencoder`) and the public methods. One that
    trains on incomplete data sets :attr:`_missing_entries` and overrides
    :meth:`_validate_training_samples`.
    """

    #: Constraints of the parameters every subclass shares (the network, the
    #: objective, training and scoring).
    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "likelihood": [StrOptions({"gaussian", "bernoulli"})],
        "decoder_variance": [
            StrOptions({"fitted", "alpha"}),
            Interval(Real, 0, None, closed="neither"),
        ],
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
        "distribute_strategy": [None, tf.distribute.Strategy],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    #: How the encoder reads missing (NaN) entries (see ``_layout.Layout``);
    #: None: the data are complete.
    _missing_entries = None

    def _validate_training_samples(self, X):
        """Validated 2-D training ``X`` (NaN where missing) and its image shape, if 4-D."""
        return validate_samples(self, X, reset=True)

    # ------------------------------------------------------------------ fit

    def _fit(self, X, *, epochs, continuing, hold_out):
        """Train on ``X``; return the validated 2-D training data."""
        limit_tensorflow_threads()
        allow_gpu_memory_growth()
        params = self.get_params()
        with _training.restored_on_failure(self):
            if continuing:
                _training.check_network_unchanged(self._network_parameters, params)
                X, _ = self._validate_samples(X)
            else:
                X, input_image_shape = self._validate_training_samples(X)
                self._layout = resolve_layout(
                    X,
                    input_image_shape,
                    image_shape=self.image_shape,
                    architecture=self.architecture,
                    output_activation=self.output_activation,
                    likelihood=self.likelihood,
                    missing_entries=self._missing_entries,
                )
            check_likelihood_settings(X, params)
            seeds = _training.draw_seeds(self.random_state, self.distribute_strategy, len(X))
            run = _training.train(
                X,
                self._layout,
                params,
                seeds=seeds,
                epochs=epochs,
                hold_out=hold_out,
                # Unpickled estimators have no trainer: their optimiser state was not saved.
                models=(self.encoder_, self.decoder_) if continuing else None,
                trainer=getattr(self, "_trainer", None) if continuing else None,
                epochs_done=self.n_iter_ if continuing else 0,
            )
            history = run.history
            if continuing:
                history = _training.extend_history(self.history_, history, self.n_iter_)
            else:
                self.encoder_, self.decoder_ = run.trainer.encoder, run.trainer.decoder
                self._scoring_seed = seeds.scoring
                self._network_parameters = {
                    name: params[name] for name in _training.NETWORK_PARAMETERS
                }
            self._trainer = run.trainer
            self.history_ = history
            self.n_iter_ = len(history["loss"])
            self._compiled = CompiledVAE(self.encoder_, self.decoder_, likelihood=self._likelihood)
            self.decoder_variance_ = _scoring.resolve_decoder_variance(
                self.decoder_variance,
                alpha=self.alpha,
                likelihood=self._likelihood,
                compiled=self._compiled,
                X=X,
                layout=self._layout,
                rows=run.train_rows,
                seed=self._scoring_seed,
            )
            if self.decoder_variance_ is not None:
                self._compiled.decoder_variance.assign(self.decoder_variance_)
        return X

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
    def _likelihood(self):
        # The decoder's likelihood as fitted (a network parameter: it cannot
        # change until the next fresh fit).
        return self._network_parameters["likelihood"]

    @property
    def _n_features_out(self):
        # The latent size, read from the fitted decoder (missing before fit, as for PCA).
        return self.decoder_.input_shape[-1]

    def _validate_samples(self, X):
        """Validated 2-D ``X`` in the fitted layout, for the methods used after fit."""
        return validate_samples(self, X, reset=False, fitted_image_shape=self.image_shape_)

    def _decode(self, Z):
        latents = iter_batches(Z, INFERENCE_BATCH_SIZE, (self._n_features_out,))
        decoded = [self._compiled.decode(batch) for batch in latents]
        decoded = np.concatenate(decoded) if decoded else np.empty((0, self._layout.n_features))
        return self._layout.to_output(decoded)

    # ---------------------------------------------------------- persistence

    def __getstate__(self):
        # object.__getstate__ returns the live __dict__ on Python >= 3.11.
        return picklable_state(super().__getstate__())

    def __setstate__(self, state):
        super().__setstate__(unpickled_state(state))
        if hasattr(self, "encoder_"):
            self._compiled = CompiledVAE(
                self.encoder_, self.decoder_, self.decoder_variance_, self._likelihood
            )
