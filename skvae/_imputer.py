"""The scikit-learn imputer: a variational autoencoder trained on incomplete data.

:class:`VAEImputer` shares the fit run, the fitted state and every network
and training parameter with :class:`~skvae.VariationalAutoencoder` through
``_base.BaseVAE``; what it adds is the imputer's interface (missing-value
markers, ``add_indicator``, ``keep_empty_features``, feature names) and
``transform``, which calls ``_imputation``.
"""

import dataclasses
from numbers import Real

import numpy as np
from sklearn.base import OneToOneFeatureMixin, TransformerMixin
from sklearn.impute import MissingIndicator
from sklearn.utils.validation import check_is_fitted

from . import _imputation
from ._base import BaseVAE, shared_parameters
from ._columns import NUMERIC_TYPES
from ._compat import StrOptions, fit_context
from ._parameters import document_shared
from ._validation import is_nan, missing_as_nan, validate_samples


@document_shared
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
    ``score`` is the mean bound on the log-likelihood of the observed
    entries, so ``GridSearchCV`` can tune the imputer without a ``scoring``.

    Convolutional networks serve images (4-D input, or 2-D rows with
    ``image_shape``), dense ones tables. Read more in the user guide,
    "Imputing missing values".

    Parameters
    ----------
    missing_values : float, default=np.nan
        The placeholder for missing values; every occurrence is imputed.
        With a number other than NaN, ``X`` may not contain NaN. Fixed at
        ``fit``.

    mask_augmentation : bool or "auto", default="auto"
        Whether training hides a random part of each row's observed entries
        from the encoder (never from the likelihood, which still scores
        them all): each entry with a probability drawn per row from U(0, 1)
        or, for half of the rows of images, a random half-plane of pixels.
        The encoder then proposes good latent points whatever is missing at
        ``transform``, including regions never missing in the training
        data (the imputation benchmark measures both). Turn it off when the
        missing entries at ``transform`` are missing as in the training
        data. ``"auto"``: on for images, where whole regions go missing;
        off for tables, whose entries go missing one by one and whose small
        training sets the hidden entries leave short of information (the
        "Tables" section of benchmarks/README.md measures it).

    sample_posterior : bool, default=False
        Whether ``transform`` returns, instead of the conditional mean, one
        draw from the model's ``p(x_miss | x_obs)``: a draw resampled by the
        importance weights (sampling importance resampling), with the
        decoder's noise added. For multiple imputation, fit several imputers
        with different ``random_state``, as with ``IterativeImputer``. An
        inference setting, like ``n_importance_samples``: read when
        ``transform`` runs.

    add_indicator : bool, default=False
        Append a :class:`~sklearn.impute.MissingIndicator` of the features
        that had missing values at ``fit`` to the output (2-D input only).

    keep_empty_features : bool, default=False
        Whether features with no observed value at ``fit`` are kept in the
        output (their missing entries imputed with 0, as scikit-learn's
        imputers do) or dropped. 4-D output keeps its shape, so it always
        keeps them. Fixed at ``fit``.

    Attributes
    ----------
    indicator_ : sklearn.impute.MissingIndicator or None
        The indicator appended to the output, when ``add_indicator``.

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
        "mask_augmentation": ["boolean", StrOptions({"auto"})],
        "sample_posterior": ["boolean"],
        "add_indicator": ["boolean"],
        "keep_empty_features": ["boolean"],
    }

    # Hiding observed entries only makes sense if the encoder can tell a
    # hidden (missing) entry from an observed 0: it reads the mask too.
    _missing_entries = "zero_and_mask"

    # MIWAE's two hidden layers on a table, whatever its width (the widths
    # that grow with a wide table's columns were measured for the VAE only);
    # none on images, as for the VAE.
    _auto_hidden_layer_sizes = {"dense": (128, 128), "conv": ()}
    _widens_auto_layers = False

    @shared_parameters(
        latent_dim=16,
        learning_rate=1e-3,
        n_training_draws="auto",
        n_importance_samples=100,
    )
    def __init__(
        self,
        *,
        missing_values=np.nan,
        mask_augmentation="auto",
        sample_posterior=False,
        add_indicator=False,
        keep_empty_features=False,
        **shared,
    ):
        super().__init__(**shared)
        self.missing_values = missing_values
        self.mask_augmentation = mask_augmentation
        self.sample_posterior = sample_posterior
        self.add_indicator = add_indicator
        self.keep_empty_features = keep_empty_features

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
        self._fit(X, epochs=self.epochs, continuing=False)
        return self

    def _objective(self):
        mask_augmentation = self.mask_augmentation
        if mask_augmentation == "auto":
            mask_augmentation = not self._layout.is_table
        return dataclasses.replace(super()._objective(), mask_augmentation=mask_augmentation)

    def _finish_fit(self, X):
        if self._layout.columns is not None:
            # A mixed table has no empty column (see _validate_training_mixed).
            self._empty_features = np.zeros(self.n_features_in_, dtype=bool)
            self.indicator_ = None
            return
        self._empty_features = np.isnan(X).all(axis=0)
        self.indicator_ = (
            MissingIndicator(error_on_new=False).fit(X) if self.add_indicator else None
        )

    def _validate_training_samples(self, X):
        # What the missing entries are, and what transform returns for a
        # feature never observed, are fixed at fit, so that set_params
        # cannot change what a fitted imputer does.
        self._missing_values = self.missing_values
        self._keep_empty_features = self.keep_empty_features
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

    def _validate_training_mixed(self, X, columns):
        self._missing_values = self.missing_values
        self._keep_empty_features = self.keep_empty_features
        if not is_nan(self.missing_values):
            raise ValueError(
                f"missing_values={self.missing_values!r}, but in a DataFrame with categorical "
                "columns a missing entry is NaN, None or pd.NA; leave missing_values=np.nan."
            )
        if self.add_indicator:
            raise ValueError(
                "add_indicator=True is not available for a DataFrame with categorical "
                "columns yet; use sklearn.impute.MissingIndicator alongside."
            )
        features = super()._validate_training_mixed(X, columns)
        empty = [
            str(column.name)
            for position, column in columns.of_kind(*NUMERIC_TYPES)
            if X.iloc[:, position].isna().all()
        ]
        if empty:
            raise ValueError(
                f"column(s) {', '.join(empty)} of X have no observed value, so nothing to "
                "learn them from; drop them."
            )
        return features

    def _validate_incomplete(self, X, *, reset):
        """Validated 2-D float ``X`` with NaN where values are missing, and its image shape."""
        if not reset and self._layout.columns is not None:
            return self._encoded_table(X, self._layout.columns, reset=False), None
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
            the indicator columns (with ``add_indicator``). For a DataFrame
            with categorical columns, a DataFrame with its index, columns
            and dtypes (see ``column_types``).

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
        frame = X
        X, input_image_shape = self._validate_incomplete(X, reset=False)
        completed = _imputation.impute(
            self._compiled,
            X,
            self._layout,
            n_draws=self.n_importance_samples,
            sample_posterior=self.sample_posterior,
            seed=self._inference_seed,
        )
        if self._layout.columns is not None:
            # Observed categories are one-hot, imputed ones probabilities (or a
            # drawn one-hot): decoding takes each row's most probable category.
            columns = self._layout.columns
            completed = columns.keep_observed(columns.decode(completed), frame)
            completed.index = frame.index
            return completed
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

    def score(self, X, y=None):
        """Mean log-likelihood bound of the observed entries of ``X``, in nats per row.

        The bound on ``log p(x_obs)`` that training maximises, with
        ``n_importance_samples`` draws ``z_i ~ q(z | x_obs)`` per row: the
        importance-weighted bound ``log (1/k) sum_i p(x_obs | z_i) p(z_i) /
        q(z_i | x_obs)`` (the ELBO for ``k = 1``), under the decoder
        variance fixed at ``fit``. Higher is better, so a search over the
        imputer's parameters (``GridSearchCV`` with no ``scoring``) picks
        the model under which the held-out rows' observed values are most
        likely. A row with nothing observed has ``log p(x_obs) = 0``: its
        bound is ``-KL(q || p)`` for ``k = 1`` and tends to 0 as ``k`` grows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, height, width, channels)
            Data with ``missing_values`` where values are missing, in the
            layout seen by ``fit``.

        y : None
            Ignored.

        Returns
        -------
        score : float
            Mean per-row bound in nats.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import VAEImputer
        >>> X = np.random.default_rng(0).random((60, 4))
        >>> X[::3, 1] = np.nan
        >>> imputer = VAEImputer(epochs=2, n_importance_samples=10, random_state=0).fit(X)
        >>> isinstance(imputer.score(X), float)
        True
        """
        check_is_fitted(self)
        X, _ = self._validate_incomplete(X, reset=False)
        self._layout.family.check_data(X, "X")
        return float(np.mean(self._score_samples(X)))

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
        return tags
