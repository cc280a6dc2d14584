"""What every skvae estimator shares: the fit run and the fitted state.

:class:`BaseVAE` coordinates one fit (validation, layout, training, the
decoder variance) and reads the fitted state back for inference (layout,
decoding, pickling); the public estimators in ``_estimator.py`` add
their parameters, documentation and public methods. As in scikit-learn's
``mixture/_base.py``, the base class holds no math: each step calls the
module named for its concern.
"""

import numpy as np
from sklearn.base import BaseEstimator

from . import _scoring, _training
from ._compat import allow_gpu_memory_growth, limit_tensorflow_threads
from ._data import iter_batches
from ._inference import CompiledVAE
from ._layout import INFERENCE_BATCH_SIZE, resolve_layout
from ._persistence import picklable_state, unpickled_state
from ._validation import check_likelihood_settings, validate_samples


class BaseVAE(BaseEstimator):
    """Fit coordination and fitted state of a variational autoencoder estimator.

    Subclasses define ``__init__`` with the parameters read here (those of
    :class:`~skvae.VariationalAutoencoder`) and the public methods.
    """

    # ------------------------------------------------------------------ fit

    def _fit(self, X, *, epochs, continuing, hold_out):
        limit_tensorflow_threads()
        allow_gpu_memory_growth()
        params = self.get_params()
        with _training.restored_on_failure(self):
            if continuing:
                _training.check_network_unchanged(self._network_parameters, params)
                X, _ = self._validate_samples(X)
            else:
                X, input_image_shape = validate_samples(self, X, reset=True)
                self._layout = resolve_layout(
                    X,
                    input_image_shape,
                    image_shape=self.image_shape,
                    architecture=self.architecture,
                    output_activation=self.output_activation,
                    likelihood=self.likelihood,
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
        return self

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
