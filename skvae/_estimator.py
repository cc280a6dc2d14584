"""The scikit-learn estimator: public methods, its own parameter and their documentation.

This module coordinates; each concern lives in a module named for it:
``_base`` (the shared parameters, the fit run and the fitted state, and the
pickling hooks), ``_parameters`` (the shared parameters' documentation,
which ``document_shared`` writes into the class docstring),
``_validation`` (input checks), ``_layout`` (the fitted layout),
``_training`` (the training run), ``_inference`` (compiled encode and
decode), ``_scoring`` (``score_samples`` and the decoder variance),
``_seeding`` (every seed and per-row draw), ``_persistence`` (pickling),
``_model`` (the Keras graph), ``_losses`` (the formulas), ``_compat``
(private scikit-learn names) and ``_backends`` (what each Keras backend
needs beyond ``keras.ops``, with TensorFlow's private names and
process-wide settings).
"""

from numbers import Integral

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils.validation import check_is_fitted

from ._base import BaseVAE, shared_parameters
from ._compat import fit_context
from ._parameters import document_shared
from ._validation import (
    as_one_sample,
    output_dtype,
    validate_latent_points,
)


@document_shared
class VariationalAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseVAE):
    """Variational autoencoder with a convolutional or dense Keras network.

    The encoder maps each sample to a diagonal Gaussian posterior
    ``q(z | x) = N(mu, exp(log_var))`` over ``latent_dim`` dimensions; the
    decoder maps a latent point back to data space. By default
    (``alpha="auto"``) training minimises with Adam the negative ELBO,
    ``-E_q[log p(x | z)] + KL(q(z | x) || N(0, I))``, with the decoder's noise
    fitted to the data, where ``z = mu + exp(log_var / 2) * eps``; a number
    ``alpha`` trains on ``alpha * mse(x, x_hat) + KL`` instead
    (``likelihood="bernoulli"``: binary cross-entropy for the MSE).

    ``transform`` returns the posterior mean ``mu``, ``inverse_transform``
    decodes latent points, ``sample`` decodes draws from the prior, and
    ``score_samples`` returns a lower bound on ``log p(x)`` in nats (the
    importance-weighted bound with ``n_importance_samples`` draws, the ELBO
    for one) under a decoder noise level fitted to the training data, which
    makes ``score`` a
    held-out log-likelihood comparable across ``alpha`` and ``latent_dim``,
    and with ``PCA.score`` (``GridSearchCV`` can use it without a
    ``scoring``).

    Parameters
    ----------
    warm_start : bool, default=False
        When ``True``, ``fit`` on a fitted estimator continues training the
        current model instead of building a new one; ``history_`` and
        ``n_iter_`` accumulate. A continued fit (this, or ``partial_fit``)
        uses the current training parameters (``alpha``, ``learning_rate``,
        ...); changing one that defines the network (``latent_dim``,
        ``architecture``, ..., a table's ``column_types`` and
        ``handle_unknown``) raises ``ValueError``.

    Attributes
    ----------

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
    >>> X = load_digits().data[:200] / 16  # 8x8 images as rows
    >>> vae = VariationalAutoencoder(latent_dim=2, image_shape=(8, 8), epochs=2, random_state=0)
    >>> vae.fit_transform(X).shape
    (200, 2)
    >>> vae.image_shape_, vae.architecture_
    ((8, 8, 1), 'conv')
    >>> vae.inverse_transform(vae.transform(X[:3])).shape
    (3, 64)
    """

    _parameter_constraints: dict = {
        **BaseVAE._parameter_constraints,
        "warm_start": ["boolean"],
    }

    @shared_parameters()
    def __init__(self, latent_dim=2, *, warm_start=False, **shared):
        super().__init__(latent_dim=latent_dim, **shared)
        self.warm_start = warm_start

    # ------------------------------------------------------------------ fit

    @fit_context(prefer_skip_nested_validation=True)
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
        self._fit(X, epochs=self.epochs, continuing=continuing)
        return self

    @fit_context(prefer_skip_nested_validation=True)
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
        self._fit(X, epochs=1, continuing=hasattr(self, "encoder_"), partial=True)
        return self

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
        X, _ = self._validate_samples(X)
        mu = [self._compiled.encode(batch)[0] for batch in self._layout.batches(X)]
        mu = np.concatenate(mu) if mu else np.empty((0, self._n_features_out))
        return mu.astype(output_dtype(X), copy=False)

    def inverse_transform(self, X):
        """Decode latent points into data space.

        Parameters
        ----------
        X : array-like of shape (n_samples, latent_dim)
            Latent points, e.g. the output of ``transform``.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features) or \
                (n_samples, height, width, channels), or DataFrame
            Decoder means, in the layout that ``fit`` received; float32 for
            float32 input, float64 otherwise. For a model fitted on a mixed
            DataFrame, a DataFrame of its columns, dtypes and categories
            (see "Mixed tables" in the user guide).

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
        Z = validate_latent_points(X, self._n_features_out)
        decoded = self._decode(Z)
        if self._layout.columns is not None:  # a DataFrame of the fitted columns' dtypes
            return decoded
        return decoded.astype(Z.dtype, copy=False)

    def sample(self, n_samples=1, random_state=None, *, noise="auto"):
        """Generate samples by decoding draws from the prior ``N(0, I)``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.

        random_state : int, RandomState instance or None, default=None
            Seeds the latent draws (and the decoder's noise); an int makes
            the output reproducible.

        noise : {"auto"} or bool, default="auto"
            Whether a sample is drawn from the decoder's distribution
            ``p(x | z)`` at each latent point (True) or is its mean (False:
            the mean image, as ``inverse_transform`` decodes). ``"auto"`` is
            True for a mixed table, whose categorical, ordinal and count
            columns have no mean in their own values: a synthetic table
            needs its categories drawn with their probabilities (the most
            probable one alone would drop the rare categories), and its real
            columns their spread. It is False for numeric arrays and images.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features) or \
                (n_samples, height, width, channels), or DataFrame
            The samples, float64, in the layout that ``fit`` received; for
            a model fitted on a mixed DataFrame, a DataFrame of its columns,
            dtypes and categories.

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
        if isinstance(noise, str) and noise == "auto":
            noise = self._layout.columns is not None
        elif not isinstance(noise, (bool, np.bool_)):
            raise ValueError(f'noise must be "auto", True or False, got {noise!r}.')
        rng = check_random_state(random_state)
        Z = rng.standard_normal((n_samples, self._n_features_out))
        return self._decode(Z, noise_rng=rng if noise else None)

    def score_samples(self, X):
        """Lower bound on the log-likelihood ``log p(x)`` of each sample, in nats.

        The decoder is read as ``p(x | z) = N(x_hat(z), decoder_variance_ I)``
        (or as Bernoulli probabilities for ``likelihood="bernoulli"``). With
        ``n_importance_samples=k`` draws ``z_i ~ q(z | x)`` the estimate is
        ``log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x)``, for ``k = 1`` the
        ELBO with the KL term in closed form. A sample's draws are seeded
        at ``fit`` and by its own values: repeated calls agree, and a score
        does not depend on the other rows.

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
        X, _ = self._validate_samples(X)
        self._layout.family.check_data(X, "X")
        return self._score_samples(X)

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
            First sample: a 1-D row, one image, or a single-row 2-D or 4-D batch;
            for a mixed table, a row of a DataFrame (``df.iloc[i]``) or a
            one-row DataFrame.

        x_end : array-like, same shapes as ``x_start``
            Last sample.

        n_steps : int, default=8
            Number of decoded points, both ends included; at least 2.

        Returns
        -------
        X_path : ndarray of shape (n_steps, n_features) or \
                (n_steps, height, width, channels)
            Decoded points, first to last, in the layout that ``fit`` received
            (a DataFrame for a mixed table, as ``inverse_transform`` gives).

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
        ends = []
        for x, name in ((x_start, "x_start"), (x_end, "x_end")):
            row = as_one_sample(x, name, self.n_features_in_, self.image_shape_)
            if self._layout.columns is not None:
                self._layout.columns.pandas_of_frame(row, name)
            ends.append(self.transform(row))
        t = np.linspace(0.0, 1.0, n_steps, dtype=ends[0].dtype)[:, None]
        return self.inverse_transform((1 - t) * ends[0] + t * ends[1])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
