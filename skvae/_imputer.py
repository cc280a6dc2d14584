"""The scikit-learn imputer: a variational autoencoder trained on incomplete data.

:class:`VAEImputer` shares the fit run, the fitted state and every network
and training parameter with :class:`~skvae.VariationalAutoencoder` through
``_base.BaseVAE``; what it adds is the imputer's interface (missing-value
markers, ``add_indicator``, ``keep_empty_features``, feature names) and
``transform``, which calls ``_imputation``.
"""

from numbers import Real

import numpy as np
from sklearn.base import OneToOneFeatureMixin, TransformerMixin
from sklearn.impute import MissingIndicator
from sklearn.utils.validation import check_is_fitted

from . import _imputation
from ._base import BaseVAE
from ._compat import fit_context
from ._training import restored_on_failure
from ._validation import is_nan, missing_as_nan, validate_samples


class VAEImputer(OneToOneFeatureMixin, TransformerMixin, BaseVAE):
    """Imputation of missing values with a variational autoencoder (MIWAE).

    A variational autoencoder is trained on the incomplete data directly,
    with no complete row needed: the encoder reads missing entries as 0
    (with the mask of observed entries beside them), and the reconstruction
    term (and the fitted decoder variance) cover the observed entries only,
    so training maximises a lower bound on the likelihood of what was
    observed. ``transform`` replaces each missing
    entry by its importance-weighted conditional mean
    ``sum_i w_i x_hat(z_i) / sum_i w_i`` over ``n_importance_samples`` draws
    ``z_i ~ q(z | x_obs)``, with ``w_i = p(x_obs | z_i) p(z_i) / q(z_i | x_obs)``
    (Mattei and Frellsen, 2019); observed entries are returned unchanged.

    Convolutional networks serve images (4-D input, or 2-D rows with
    ``image_shape``), dense ones tables. Read more in the user guide,
    "Imputing missing values".

    Parameters
    ----------
    missing_values : float, default=np.nan
        The placeholder for missing values; every occurrence is imputed.
        With a number other than NaN, ``X`` may not contain NaN.

    latent_dim : int, default=16
        Number of latent dimensions.

    alpha : float or "auto", default="auto"
        The training objective, as for
        :class:`~skvae.VariationalAutoencoder`: ``"auto"`` trains on the
        likelihood of the observed entries with the decoder's noise fitted
        per batch; a number on ``alpha * mse + KL``.

    likelihood : {"gaussian", "bernoulli"}, default="gaussian"
        The decoder's distribution (``"bernoulli"`` needs ``X`` in [0, 1]).

    decoder_variance : {"fitted", "alpha"} or float, default="fitted"
        Variance of the Gaussian decoder in the importance weights, fixed at
        ``fit`` as ``decoder_variance_`` (``"fitted"``: the mean squared
        error over the observed training entries).

    image_shape : tuple of int, default=None
        ``(height, width[, channels])`` of the rows of 2-D input.

    architecture : {"auto", "conv", "dense"}, default="auto"
        Network type, as for :class:`~skvae.VariationalAutoencoder`.

    conv_filters : tuple of int, default=(32, 64, 64, 64)
        Filters of each encoder convolution; the decoder mirrors them.

    conv_kernels : int or tuple of int, default=3
        Kernel size of each convolution.

    conv_strides : int or tuple of int, default=(1, 2, 2, 1)
        Stride of each convolution.

    hidden_layer_sizes : tuple of int, default=(256, 128)
        Hidden units of the dense encoder; the decoder mirrors them.

    batch_norm : bool, default=False
        Whether to put BatchNormalization after each hidden layer.

    output_activation : {"auto", "sigmoid", "linear"}, default="auto"
        Activation of the decoder's output; ``"auto"`` uses ``"sigmoid"``
        when the observed training values lie in [0, 1].

    epochs : int, default=50
        Maximum number of passes over the training data.

    batch_size : int, default=32
        Samples per gradient step.

    learning_rate : float, default=1e-3
        Adam's learning rate.

    validation_fraction : float, default=0.1
        Fraction of the rows held out for early stopping.

    early_stopping : bool, default=True
        Stop when the held-out loss has not improved for
        ``n_iter_no_change`` epochs and restore the best weights.

    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.

    mask_augmentation : bool, default=True
        Whether training hides a random part of each row's observed entries
        from the encoder (never from the likelihood, which still scores
        them all): each entry with a probability drawn per row from U(0, 1)
        or, for half of the rows of images, a random half-plane of pixels.
        The encoder then proposes good latent points whatever is missing at
        ``transform``, including regions never missing in the training
        data. Held-out MNIST, bottom halves missing, fitted on complete
        digits: RMSE 0.198 with, 0.299 without (``KNNImputer``: 0.210); 50%
        of the pixels missing at random in both: 0.113 with, 0.107 without
        (``KNNImputer``: 0.165). Turn it off when the missing entries at
        ``transform`` are missing as in the training data.

    n_importance_samples : int, default=100
        Latent draws per incomplete row in ``transform``. More draws give a
        better estimate of the conditional mean and cost proportionally
        more. Like ``sample_posterior``, read when ``transform`` runs.

    sample_posterior : bool, default=False
        Whether ``transform`` returns, instead of the conditional mean, one
        draw from the model's ``p(x_miss | x_obs)``: a draw resampled by the
        importance weights (sampling importance resampling), with the
        decoder's noise added. For multiple imputation, fit several imputers
        with different ``random_state``, as with ``IterativeImputer``.

    add_indicator : bool, default=False
        Append a :class:`~sklearn.impute.MissingIndicator` of the features
        that had missing values at ``fit`` to the output (2-D input only).

    keep_empty_features : bool, default=False
        Whether features with no observed value at ``fit`` are kept in the
        output (their missing entries imputed with 0, as scikit-learn's
        imputers do) or dropped. 4-D output keeps its shape, so it always
        keeps them.

    distribute_strategy : tf.distribute.Strategy, default=None
        Strategy under whose scope the model is trained.

    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the validation split, the shuffling, the
        training noise and the draws of ``transform``: an int makes ``fit``
        and ``transform`` reproducible. A row's draws depend only on the
        seed and its own values, so its imputation does not depend on the
        other rows.

    verbose : int, default=0
        0 is silent, 1 shows a progress bar over the epochs, 2 a line per
        epoch.

    Attributes
    ----------
    encoder_ : keras.Model
        The trained encoder, ``x -> [mu, log_var]``; it reads NaN as missing.

    decoder_ : keras.Model
        The trained decoder, ``z -> x_hat``.

    decoder_variance_ : float or None
        Variance of the Gaussian decoder (None for ``"bernoulli"``).

    image_shape_ : tuple of int or None
        ``(height, width, channels)`` of the samples, or None for tables.

    architecture_ : str
        ``"conv"`` or ``"dense"``.

    output_activation_ : str
        ``"sigmoid"`` or ``"linear"``.

    history_ : dict of str to list of float
        Per-epoch training (and held-out) losses.

    n_iter_ : int
        Number of epochs run.

    indicator_ : sklearn.impute.MissingIndicator or None
        The indicator appended to the output, when ``add_indicator``.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    sklearn.impute.SimpleImputer : Per-column statistics.
    sklearn.impute.KNNImputer : Mean of the nearest complete neighbours.
    sklearn.impute.IterativeImputer : Each feature regressed on the others.
    VariationalAutoencoder : The same model for complete data.

    References
    ----------
    P.-A. Mattei and J. Frellsen, "MIWAE: Deep Generative Modelling and
    Imputation of Incomplete Data Sets", ICML 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skvae import VAEImputer
    >>> X = load_digits().data[:300] / 16
    >>> X_missing = X.copy()
    >>> X_missing[np.random.default_rng(0).random(X.shape) < 0.2] = np.nan
    >>> imputer = VAEImputer(epochs=2, n_importance_samples=10, random_state=0)
    >>> X_completed = imputer.fit_transform(X_missing)
    >>> X_completed.shape, bool(np.isnan(X_completed).any())
    ((300, 64), False)
    >>> observed = ~np.isnan(X_missing)
    >>> bool(np.array_equal(X_completed[observed], X_missing[observed]))
    True
    """

    _parameter_constraints: dict = {
        **BaseVAE._parameter_constraints,
        "missing_values": [Real],
        "mask_augmentation": ["boolean"],
        "sample_posterior": ["boolean"],
        "add_indicator": ["boolean"],
        "keep_empty_features": ["boolean"],
    }

    # Hiding observed entries only makes sense if the encoder can tell a
    # hidden (missing) entry from an observed 0: it reads the mask too.
    _missing_entries = "zero_and_mask"

    def __init__(
        self,
        *,
        missing_values=np.nan,
        latent_dim=16,
        alpha="auto",
        likelihood="gaussian",
        decoder_variance="fitted",
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
        mask_augmentation=True,
        n_importance_samples=100,
        sample_posterior=False,
        add_indicator=False,
        keep_empty_features=False,
        distribute_strategy=None,
        random_state=None,
        verbose=0,
    ):
        self.missing_values = missing_values
        self.latent_dim = latent_dim
        self.alpha = alpha
        self.likelihood = likelihood
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
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.mask_augmentation = mask_augmentation
        self.n_importance_samples = n_importance_samples
        self.sample_posterior = sample_posterior
        self.add_indicator = add_indicator
        self.keep_empty_features = keep_empty_features
        self.distribute_strategy = distribute_strategy
        self.random_state = random_state
        self.verbose = verbose

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the imputer's autoencoder on incomplete ``X``.

        Rows need not be complete: each contributes the likelihood of its
        observed entries. A row with nothing observed contributes only its
        KL term, and a feature with nothing observed is handled as
        ``keep_empty_features`` says.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, height, width, channels)
            Training data, with ``missing_values`` where values are missing.

        y : None
            Ignored.

        Returns
        -------
        self : VAEImputer
            The fitted imputer.

        Raises
        ------
        ValueError
            If ``X`` has no observed value, contains inf, or contains NaN
            while ``missing_values`` is another number; if training
            diverges. A failed ``fit`` leaves a fitted imputer as it was.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VAEImputer
        >>> X = np.random.default_rng(0).random((60, 4))
        >>> X[::3, 1] = np.nan
        >>> VAEImputer(epochs=2, random_state=0).fit(X).architecture_
        'dense'
        """
        with restored_on_failure(self):
            # Fixed at fit, so that set_params cannot change what transform does.
            self._missing_values = self.missing_values
            self._keep_empty_features = self.keep_empty_features
            X = self._fit(X, epochs=self.epochs, continuing=False, hold_out=True)
            self._empty_features = np.isnan(X).all(axis=0)
            self.indicator_ = (
                MissingIndicator(error_on_new=False).fit(X) if self.add_indicator else None
            )
        return self

    def _validate_training_samples(self, X):
        X, input_image_shape = self._validate_incomplete(X, reset=True)
        if input_image_shape is not None and self.add_indicator:
            raise ValueError(
                "add_indicator=True appends indicator columns to each row, which 4-D "
                "images do not have; pass X as 2-D rows (with image_shape) or set "
                "add_indicator=False."
            )
        if X.size and np.isnan(X).all():
            raise ValueError(
                "X has no observed value: every entry is missing, so there is "
                "nothing to learn from."
            )
        return X, input_image_shape

    def _validate_incomplete(self, X, *, reset):
        """Validated 2-D float ``X`` with NaN where values are missing, and its image shape."""
        X, input_image_shape = validate_samples(
            self,
            X,
            reset=reset,
            fitted_image_shape=None if reset else self.image_shape_,
            allow_nan=True,
        )
        return missing_as_nan(X, self._missing_values), input_image_shape

    def transform(self, X):
        """Impute every missing entry of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, height, width, channels)
            Data with ``missing_values`` where values are missing, in the
            layout seen by ``fit``.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features_out) or \
                (n_samples, height, width, channels)
            ``X`` with its missing entries imputed and its observed entries
            unchanged, in the layout of ``X``; float32 for float32 input,
            float64 otherwise. 2-D output drops the features with no value
            observed at ``fit`` (unless ``keep_empty_features``) and appends
            the indicator columns (with ``add_indicator``).

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VAEImputer
        >>> X = np.random.default_rng(0).random((60, 4)).astype(np.float32)
        >>> X[::3, 1] = np.nan
        >>> imputer = VAEImputer(epochs=2, n_importance_samples=10, random_state=0).fit(X)
        >>> X_imputed = imputer.transform(X)
        >>> X_imputed.dtype, int(np.isnan(X_imputed).sum())
        (dtype('float32'), 0)
        """
        check_is_fitted(self)
        X, input_image_shape = self._validate_incomplete(X, reset=False)
        completed = _imputation.impute(
            self._compiled,
            X,
            self._layout,
            n_draws=self.n_importance_samples,
            sample_posterior=self.sample_posterior,
            seed=self._scoring_seed,
        )
        # As scikit-learn's imputers do: a feature never observed at fit has no
        # learned value, so its missing entries become 0.
        empty = self._empty_features
        completed[:, empty] = np.nan_to_num(X[:, empty], nan=0.0)
        if input_image_shape is not None:
            if self.indicator_ is not None:
                raise ValueError(
                    "This imputer appends indicator columns (add_indicator=True at fit), "
                    "which 4-D images do not have; pass X as 2-D rows."
                )
            return completed.reshape((-1, *input_image_shape))
        if not self._keep_empty_features:
            completed = completed[:, ~empty]
        if self.indicator_ is not None:
            indicator = self.indicator_.transform(X).astype(completed.dtype)
            completed = np.hstack([completed, indicator])
        return completed

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: the kept input features, then the indicator's.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; by default ``feature_names_in_``, or
            ``x0, x1, ...`` when ``fit`` saw none.

        Returns
        -------
        feature_names_out : ndarray of str objects
            Transformed feature names.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VAEImputer
        >>> X = np.random.default_rng(0).random((60, 3))
        >>> X[::3, 1] = np.nan
        >>> imputer = VAEImputer(epochs=1, add_indicator=True, random_state=0).fit(X)
        >>> imputer.get_feature_names_out().tolist()
        ['x0', 'x1', 'x2', 'missingindicator_x1']
        """
        # OneToOneFeatureMixin validates input_features against the fit.
        names = super().get_feature_names_out(input_features)
        check_is_fitted(self)
        kept = names if self._keep_empty_features else names[~self._empty_features]
        if self.indicator_ is None:
            return kept
        return np.concatenate([kept, self.indicator_.get_feature_names_out(names)])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = is_nan(self.missing_values)
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = self.random_state is None
        return tags
