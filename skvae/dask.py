"""Inference on dask arrays, block by block, wherever dask runs the blocks.

For data that does not fit one machine: :func:`transform`,
:func:`inverse_transform` and :func:`score_samples` take a fitted estimator
and a row-chunked ``dask.array`` (2-D, or 4-D images) and return a lazy dask
array whose every block is the estimator's method applied to a block of
rows. On a ``dask.distributed`` cluster the blocks run on its workers; with
dask's default scheduler, on this machine's threads. Every row's result is
the one the in-memory method gives it.

The fitted model travels once per worker, not once per block: it is pickled
when the function is called and put in the graph as a single task that
unpickles it, on which every block depends. dask runs that task once, and a
worker that needs its result fetches it and keeps it for its blocks (dask's
active memory manager may drop a copy no waiting block needs; a later block
on that worker fetches it again). Its key is a hash of the pickle, so two
models never share a key (computing two of them together cannot mix them
up), and the result uses the model as it was at the call, even if the
estimator is refitted before the result is computed.

These are functions rather than methods of the estimator, which keeps dask an
optional dependency and keeps ``transform`` returning NumPy arrays, as
scikit-learn expects. dask-ml's ``ParallelPostFit`` has no
``inverse_transform`` or ``score_samples`` and sends the estimator with
every block.
"""

import pickle

import numpy as np
from sklearn.utils.validation import check_is_fitted

try:
    import dask
    import dask.array as da
    from dask.base import tokenize
except ImportError as error:  # pragma: no cover - dask is in the test extra
    raise ImportError(
        "skvae.dask needs dask; install it with pip install 'skvae[distributed]'."
    ) from error

__all__ = ["inverse_transform", "score_samples", "transform"]


def transform(estimator, X: da.Array) -> da.Array:
    """Latent means of the rows of a dask array, computed block by block.

    Parameters
    ----------
    estimator : VariationalAutoencoder
        A fitted estimator.

    X : dask.array.Array of shape (n_samples, n_features) or \
            (n_samples, height, width, channels)
        Samples in the layout seen by ``fit``, in blocks of rows (other
        axes are joined into one chunk).

    Returns
    -------
    X_new : dask.array.Array of shape (n_samples, latent_dim)
        ``estimator.transform`` of each block of rows, with ``X``'s row
        chunks.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from skvae import VariationalAutoencoder
    >>> from skvae.dask import transform
    >>> X = np.random.default_rng(0).random((120, 8, 8, 1)).astype(np.float32)
    >>> vae = VariationalAutoencoder(epochs=1, random_state=0).fit(X)
    >>> Z = transform(vae, da.from_array(X, chunks=(50, 8, 8, 1)))
    >>> Z.shape, Z.chunks[0]
    ((120, 2), (50, 50, 20))
    >>> bool(np.allclose(Z.compute(), vae.transform(X), rtol=1e-5, atol=1e-6))
    True
    """
    return _blockwise(estimator, "transform", X)


def inverse_transform(estimator, X: da.Array) -> da.Array:
    """Decoded latent points of a dask array, computed block by block.

    Parameters
    ----------
    estimator : VariationalAutoencoder
        A fitted estimator.

    X : dask.array.Array of shape (n_samples, latent_dim)
        Latent points in blocks of rows.

    Returns
    -------
    X_original : dask.array.Array of shape (n_samples, n_features) or \
            (n_samples, height, width, channels)
        ``estimator.inverse_transform`` of each block of rows.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from skvae import VariationalAutoencoder
    >>> from skvae.dask import inverse_transform
    >>> vae = VariationalAutoencoder(epochs=1, random_state=0).fit(np.random.rand(60, 5))
    >>> Z = da.zeros((30, 2), chunks=10)
    >>> inverse_transform(vae, Z).compute().shape
    (30, 5)
    """
    return _blockwise(estimator, "inverse_transform", X)


def score_samples(estimator, X: da.Array) -> da.Array:
    """Per-sample log-likelihood bounds of a dask array, computed block by block.

    A sample's draws depend only on its own values (see
    ``VariationalAutoencoder.score_samples``), so the blocks give the
    in-memory scores.

    Parameters
    ----------
    estimator : VariationalAutoencoder
        A fitted estimator.

    X : dask.array.Array of shape (n_samples, n_features) or \
            (n_samples, height, width, channels)
        Samples in the layout seen by ``fit``, in blocks of rows.

    Returns
    -------
    log_likelihood : dask.array.Array of shape (n_samples,)
        ``estimator.score_samples`` of each block of rows, float64.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from skvae import VariationalAutoencoder
    >>> from skvae.dask import score_samples
    >>> X = np.random.default_rng(0).random((60, 4))
    >>> vae = VariationalAutoencoder(epochs=1, random_state=0).fit(X)
    >>> scores = score_samples(vae, da.from_array(X, chunks=20))
    >>> bool(np.allclose(scores.compute(), vae.score_samples(X)))
    True
    """
    return _blockwise(estimator, "score_samples", X)


def _blockwise(estimator, method, X):
    check_is_fitted(estimator)
    if not isinstance(X, da.Array):
        raise TypeError(
            f"X must be a dask array, not {type(X).__name__}; for data in memory, call "
            f"estimator.{method}(X)."
        )
    # A block must hold whole rows.
    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    # One row of zeros, here and now: a bad feature count fails at the call,
    # not later on a worker, and the result tells the output's row shape and
    # dtype.
    probe = getattr(estimator, method)(np.zeros((1, *X.shape[1:]), X.dtype))
    return da.map_blocks(
        _apply,
        X,
        _loaded_once(estimator),
        method,
        probe[:0],
        chunks=(X.chunks[0], *((size,) for size in probe.shape[1:])),
        drop_axis=list(range(probe.ndim, X.ndim)),
        new_axis=list(range(X.ndim, probe.ndim)),
        meta=probe[:0],
    )


def _loaded_once(estimator):
    """A graph node holding a copy of ``estimator``, keyed by a hash of its pickle."""
    payload = pickle.dumps(estimator)
    return dask.delayed(pickle.loads)(payload, dask_key_name=f"skvae-model-{tokenize(payload)}")


def _apply(block, model, method, empty):
    # dask can make blocks of no rows (after filtering), which estimators refuse.
    return getattr(model, method)(block) if len(block) else empty
