"""Pictures of a fitted :class:`~skvae.VariationalAutoencoder` (needs matplotlib).

Each display follows scikit-learn's visualisation API: build it with
``Display.from_estimator(...)`` (which fits nothing and plots at once), or
construct it from precomputed arrays and call ``plot``. After plotting, the
display holds the matplotlib ``figure_`` and ``ax_`` it drew on, so a figure
can be adjusted or several displays can share one figure through ``ax=``.

Image grids are drawn as one mosaic per axes. One-channel images use a
colormap; three-channel images are shown as RGB. Rows of 2-D data are read
as images of the estimator's ``image_shape_`` (or the ``image_shape`` given).
"""

import math
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._validation import normalize_image_shape

__all__ = [
    "InterpolationDisplay",
    "LatentSpaceDisplay",
    "LossCurveDisplay",
    "ReconstructionDisplay",
    "SamplesDisplay",
]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "skvae.plotting needs matplotlib; install it with `pip install matplotlib`."
        ) from None
    return plt


def _axes(ax):
    """``ax`` and its figure, creating both when ``ax`` is None."""
    if ax is None:
        figure, ax = _pyplot().subplots()
        return figure, ax
    return ax.figure, ax


def _as_images(X, image_shape, name="X"):
    """``X`` as a float array of shape ``(n, height, width, channels)``.

    ``image_shape`` reads the rows of 2-D input; 3-D input is taken as a
    stack of one-channel images.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 2:
        if image_shape is None:
            raise ValueError(
                f"{name} holds {X.shape[1]} features per row but no image shape is known; "
                "pass image_shape=(height, width[, channels]) or fit on image data."
            )
        X = X.reshape((-1, *normalize_image_shape(image_shape, X.shape[1], name)))
    elif X.ndim == 3:
        X = X[..., None]
    if X.ndim != 4 or X.shape[-1] not in (1, 3):
        raise ValueError(
            f"{name} must hold one- or three-channel images (n, height, width[, channels]) "
            f"or rows with an image_shape; got an array of shape {X.shape}."
        )
    return X


def _mosaic(images, n_cols, pad=1):
    """Tile ``(n, h, w, c)`` images into one ``(H, W, c)`` array, NaN between tiles."""
    n, height, width, channels = images.shape
    n_rows = math.ceil(n / n_cols)
    mosaic = np.full(
        (n_rows * (height + pad) - pad, n_cols * (width + pad) - pad, channels), np.nan
    )
    for index, image in enumerate(images):
        row, col = divmod(index, n_cols)
        top, left = row * (height + pad), col * (width + pad)
        mosaic[top : top + height, left : left + width] = image
    return mosaic


def _show_mosaic(ax, mosaic, cmap):
    """Draw a mosaic from :func:`_mosaic` on ``ax``; returns the AxesImage."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if mosaic.shape[-1] == 1:
        low, high = np.nanmin(mosaic), np.nanmax(mosaic)
        colormap = _pyplot().get_cmap(cmap).with_extremes(bad="white")
        return ax.imshow(
            np.ma.masked_invalid(mosaic[..., 0]),
            cmap=colormap,
            vmin=min(low, 0.0),
            vmax=max(high, 1.0),
            interpolation="nearest",
        )
    rgb = mosaic
    low, high = np.nanmin(rgb), np.nanmax(rgb)
    if low < 0 or high > 1:  # e.g. a linear decoder: rescale rather than clip
        rgb = (rgb - low) / max(high - low, np.finfo(float).tiny)
    # RGBA with transparent gaps, so the padding takes the axes' background.
    rgba = np.concatenate([np.nan_to_num(rgb), ~np.isnan(rgb[..., :1])], axis=-1)
    return ax.imshow(rgba, interpolation="nearest")


def _estimator_images(estimator, image_shape):
    check_is_fitted(estimator)
    return image_shape if image_shape is not None else estimator.image_shape_


class LatentSpaceDisplay:
    """Scatter plot of latent means, optionally coloured by a label.

    Parameters
    ----------
    latent : ndarray of shape (n_samples, n_dims)
        Latent coordinates, e.g. ``estimator.transform(X)``.

    labels : array-like of shape (n_samples,), default=None
        Values that colour the points (digit classes, anomaly scores).

    Attributes
    ----------
    scatter_ : matplotlib.collections.PathCollection
        The plotted points.

    colorbar_ : matplotlib.colorbar.Colorbar or None
        Colour legend, when labels were given.

    ax_ : matplotlib.axes.Axes
        Axes holding the plot.

    figure_ : matplotlib.figure.Figure
        Figure holding the plot.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from skvae import VariationalAutoencoder
    >>> from skvae.plotting import LatentSpaceDisplay
    >>> digits = load_digits()
    >>> X, y = digits.data[:100] / 16, digits.target[:100]
    >>> vae = VariationalAutoencoder(epochs=1, conv_filters=(4, 8), conv_strides=(1, 2),
    ...                              random_state=0).fit(X)
    >>> display = LatentSpaceDisplay.from_estimator(vae, X, y)
    >>> display.scatter_.get_offsets().shape
    (100, 2)
    """

    def __init__(self, latent, *, labels=None):
        self.latent = latent
        self.labels = labels

    def plot(self, ax=None, *, dims=(0, 1), cmap="tab10", colorbar=True, **scatter_kwargs):
        """Draw the scatter plot.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.

        dims : tuple of two int, default=(0, 1)
            Latent dimensions on the x and y axes. With a one-dimensional
            latent space the y axis shows the labels (or zeros).

        cmap : str, default="tab10"
            Colormap of the labels.

        colorbar : bool, default=True
            Whether to add a colour legend when labels were given.

        **scatter_kwargs : dict
            Passed to ``ax.scatter``.

        Returns
        -------
        display : LatentSpaceDisplay
            This display, with ``figure_``, ``ax_`` and ``scatter_`` set.
        """
        latent = np.asarray(self.latent, dtype=np.float64)
        if latent.ndim != 2 or latent.shape[1] < 1:
            raise ValueError(
                f"latent must be a 2-D array (n_samples, n_dims); got shape {latent.shape}."
            )
        labels = None if self.labels is None else np.asarray(self.labels)
        if labels is not None and labels.shape != (len(latent),):
            raise ValueError(
                f"labels must have shape ({len(latent)},) to match latent; got {labels.shape}."
            )
        figure, ax = _axes(ax)
        if latent.shape[1] == 1:
            x = latent[:, 0]
            y = labels if labels is not None else np.zeros(len(latent))
            xlabel, ylabel = "z[0]", "label" if labels is not None else ""
        else:
            first, second = dims
            if not (0 <= first < latent.shape[1] and 0 <= second < latent.shape[1]):
                raise ValueError(
                    f"dims={dims!r} must name two of the {latent.shape[1]} latent dimensions."
                )
            x, y = latent[:, first], latent[:, second]
            xlabel, ylabel = f"z[{first}]", f"z[{second}]"
        kwargs = {"s": 8, "alpha": 0.8, **scatter_kwargs}
        if labels is not None:
            kwargs.update(c=labels, cmap=cmap)
        self.scatter_ = ax.scatter(x, y, **kwargs)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        self.colorbar_ = None
        if labels is not None and colorbar:
            self.colorbar_ = figure.colorbar(self.scatter_, ax=ax)
        self.figure_, self.ax_ = figure, ax
        return self

    @classmethod
    def from_estimator(cls, estimator, X, y=None, *, ax=None, **kwargs):
        """Encode ``X`` with ``estimator.transform`` and plot the latent means.

        Parameters
        ----------
        estimator : fitted VariationalAutoencoder
            Any fitted transformer works.

        X : array-like
            Samples in the layout seen by ``fit``.

        y : array-like of shape (n_samples,), default=None
            Labels that colour the points.

        ax : matplotlib Axes, default=None
            Axes to draw on.

        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : LatentSpaceDisplay
        """
        check_is_fitted(estimator)
        return cls(estimator.transform(X), labels=y).plot(ax=ax, **kwargs)


class _ImageGridDisplay:
    """Shared plotting of an image mosaic with optional row labels."""

    def _plot_grid(self, images, n_cols, row_labels, ax, cmap):
        figure, ax = _axes(ax)
        self.image_ = _show_mosaic(ax, _mosaic(images, n_cols), cmap)
        if row_labels:
            height = images.shape[1]
            ax.set_yticks(
                [row * (height + 1) + (height - 1) / 2 for row in range(len(row_labels))]
            )
            ax.set_yticklabels(row_labels)
            ax.tick_params(axis="y", length=0)
        self.figure_, self.ax_ = figure, ax
        return self


class ReconstructionDisplay(_ImageGridDisplay):
    """Originals above their reconstructions (and corrupted inputs, if any).

    Parameters
    ----------
    originals : array-like of shape (n_images, ...)
        Images, or rows read with ``image_shape``.

    reconstructions : array-like, same shape as ``originals``
        What the model made of them.

    corrupted : array-like, same shape as ``originals``, default=None
        Inputs actually encoded, when they differ from the originals (the
        denoising picture); shown as a middle row.

    image_shape : tuple of int, default=None
        ``(height, width[, channels])`` of 2-D rows.

    Attributes
    ----------
    image_ : matplotlib.image.AxesImage
        The mosaic.

    ax_ : matplotlib.axes.Axes
        Axes holding the plot.

    figure_ : matplotlib.figure.Figure
        Figure holding the plot.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skvae.plotting import ReconstructionDisplay
    >>> images = np.random.default_rng(0).random((4, 8, 8, 3))
    >>> display = ReconstructionDisplay(images, 1 - images).plot()
    >>> display.image_.get_array().shape
    (17, 35, 4)
    """

    def __init__(self, originals, reconstructions, *, corrupted=None, image_shape=None):
        self.originals = originals
        self.reconstructions = reconstructions
        self.corrupted = corrupted
        self.image_shape = image_shape

    def plot(self, ax=None, *, cmap="gray_r"):
        """Draw one row of originals, [corrupted,] and reconstructions.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.

        cmap : str, default="gray_r"
            Colormap of one-channel images.

        Returns
        -------
        display : ReconstructionDisplay
        """
        rows = {"original": self.originals}
        if self.corrupted is not None:
            rows["corrupted"] = self.corrupted
        rows["reconstruction"] = self.reconstructions
        grids = [_as_images(images, self.image_shape, name) for name, images in rows.items()]
        if len({grid.shape for grid in grids}) != 1:
            shapes = ", ".join(
                f"{name} {grid.shape}" for name, grid in zip(rows, grids, strict=True)
            )
            raise ValueError(f"the image rows must have the same shape; got {shapes}.")
        return self._plot_grid(np.concatenate(grids), len(grids[0]), list(rows), ax=ax, cmap=cmap)

    @classmethod
    def from_estimator(
        cls, estimator, X, *, X_corrupted=None, n_images=10, image_shape=None, ax=None, **kwargs
    ):
        """Reconstruct the first ``n_images`` samples of ``X`` and plot them.

        Parameters
        ----------
        estimator : fitted VariationalAutoencoder

        X : array-like
            Samples in the layout seen by ``fit``.

        X_corrupted : array-like, default=None
            Noisy versions of ``X`` to encode instead of ``X``: the picture
            then shows denoising, ``inverse_transform(transform(X_corrupted))``.

        n_images : int, default=10
            Number of samples shown.

        image_shape : tuple of int, default=None
            Overrides the estimator's ``image_shape_``.

        ax : matplotlib Axes, default=None
            Axes to draw on.

        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : ReconstructionDisplay
        """
        shape = _estimator_images(estimator, image_shape)
        originals = np.asarray(X)[:n_images]
        encoded = originals if X_corrupted is None else np.asarray(X_corrupted)[:n_images]
        reconstructions = estimator.inverse_transform(estimator.transform(encoded))
        display = cls(
            originals,
            reconstructions,
            corrupted=None if X_corrupted is None else encoded,
            image_shape=shape,
        )
        return display.plot(ax=ax, **kwargs)


class SamplesDisplay(_ImageGridDisplay):
    """A grid of generated images.

    Parameters
    ----------
    images : array-like of shape (n_images, ...)
        Images, or rows read with ``image_shape``.

    image_shape : tuple of int, default=None
        ``(height, width[, channels])`` of 2-D rows.

    Attributes
    ----------
    image_ : matplotlib.image.AxesImage
        The mosaic.

    ax_ : matplotlib.axes.Axes
        Axes holding the plot.

    figure_ : matplotlib.figure.Figure
        Figure holding the plot.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skvae.plotting import SamplesDisplay
    >>> rows = np.random.default_rng(0).random((6, 64))
    >>> SamplesDisplay(rows, image_shape=(8, 8)).plot(n_cols=3).image_.get_array().shape
    (17, 26)
    """

    def __init__(self, images, *, image_shape=None):
        self.images = images
        self.image_shape = image_shape

    def plot(self, ax=None, *, n_cols=None, cmap="gray_r"):
        """Draw the images in a grid.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.

        n_cols : int, default=None
            Images per grid row; about the square root of their number when None.

        cmap : str, default="gray_r"
            Colormap of one-channel images.

        Returns
        -------
        display : SamplesDisplay
        """
        images = _as_images(self.images, self.image_shape, "images")
        if n_cols is None:
            n_cols = math.ceil(math.sqrt(len(images)))
        return self._plot_grid(images, n_cols, None, ax=ax, cmap=cmap)

    @classmethod
    def from_estimator(
        cls, estimator, n_samples=64, *, random_state=None, image_shape=None, ax=None, **kwargs
    ):
        """Draw ``n_samples`` images from the prior with ``estimator.sample``.

        Parameters
        ----------
        estimator : fitted VariationalAutoencoder

        n_samples : int, default=64
            Number of generated images.

        random_state : int, RandomState instance or None, default=None
            Seeds the latent draws.

        image_shape : tuple of int, default=None
            Overrides the estimator's ``image_shape_``.

        ax : matplotlib Axes, default=None
            Axes to draw on.

        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : SamplesDisplay
        """
        shape = _estimator_images(estimator, image_shape)
        samples = estimator.sample(n_samples, random_state=check_random_state(random_state))
        return cls(samples, image_shape=shape).plot(ax=ax, **kwargs)


class InterpolationDisplay(_ImageGridDisplay):
    """One or more strips of images morphing from a start to an end sample.

    Parameters
    ----------
    paths : array-like of shape (n_steps, ...) or sequence of them
        Decoded interpolation, e.g. ``estimator.interpolate(a, b)``; a
        sequence of such arrays draws one strip per path.

    image_shape : tuple of int, default=None
        ``(height, width[, channels])`` of 2-D rows.

    Attributes
    ----------
    image_ : matplotlib.image.AxesImage
        The mosaic.

    ax_ : matplotlib.axes.Axes
        Axes holding the plot.

    figure_ : matplotlib.figure.Figure
        Figure holding the plot.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skvae.plotting import InterpolationDisplay
    >>> t = np.linspace(0, 1, 5)[:, None, None]
    >>> InterpolationDisplay(t * np.ones((5, 8, 8))).plot().image_.get_array().shape
    (8, 44)
    """

    def __init__(self, paths, *, image_shape=None):
        self.paths = paths
        self.image_shape = image_shape

    def plot(self, ax=None, *, cmap="gray_r"):
        """Draw each path as one row, start on the left.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.

        cmap : str, default="gray_r"
            Colormap of one-channel images.

        Returns
        -------
        display : InterpolationDisplay
        """
        paths = self.paths
        if isinstance(paths, np.ndarray) or not isinstance(paths, Sequence):
            paths = [paths]
        strips = [_as_images(path, self.image_shape, "paths") for path in paths]
        if len({strip.shape for strip in strips}) != 1:
            raise ValueError("every interpolation path must have the same shape.")
        self._plot_grid(np.concatenate(strips), len(strips[0]), None, ax=ax, cmap=cmap)
        self.ax_.set_xlabel("start  \u2192  end (linear in latent space)")
        return self

    @classmethod
    def from_estimator(
        cls, estimator, x_start, x_end, *, n_steps=8, image_shape=None, ax=None, **kwargs
    ):
        """Interpolate between pairs of samples with ``estimator.interpolate``.

        Parameters
        ----------
        estimator : fitted VariationalAutoencoder

        x_start, x_end : array-like
            One sample each, or equally long batches of samples (one strip per
            pair) in the layout seen by ``fit``.

        n_steps : int, default=8
            Images per strip, both ends included.

        image_shape : tuple of int, default=None
            Overrides the estimator's ``image_shape_``.

        ax : matplotlib Axes, default=None
            Axes to draw on.

        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : InterpolationDisplay
        """
        shape = _estimator_images(estimator, image_shape)
        starts, ends = np.asarray(x_start), np.asarray(x_end)
        one_image = shape is not None and starts.shape in (tuple(shape), tuple(shape)[:2])
        if starts.ndim < 2 or one_image:
            starts, ends = starts[None], ends[None]
        if len(starts) != len(ends):
            raise ValueError(
                f"x_start and x_end must hold as many samples; got {len(starts)} and {len(ends)}."
            )
        paths = [
            estimator.interpolate(a, b, n_steps=n_steps) for a, b in zip(starts, ends, strict=True)
        ]
        return cls(paths, image_shape=shape).plot(ax=ax, **kwargs)


class LossCurveDisplay:
    """Training curves from a ``history_`` dict.

    Parameters
    ----------
    history : dict of str to list of float
        Per-epoch values, e.g. ``estimator.history_``.

    Attributes
    ----------
    lines_ : dict of str to matplotlib.lines.Line2D
        One line per plotted key.

    ax_ : matplotlib.axes.Axes
        Axes holding the plot.

    figure_ : matplotlib.figure.Figure
        Figure holding the plot.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skvae.plotting import LossCurveDisplay
    >>> history = {"loss": [3.0, 2.0, 1.5], "val_loss": [3.1, 2.4, 2.2]}
    >>> sorted(LossCurveDisplay(history).plot().lines_)
    ['loss', 'val_loss']
    """

    def __init__(self, history):
        self.history = history

    def plot(self, ax=None, *, keys=("loss", "val_loss"), logy=False):
        """Draw one line per key of ``history`` against the epoch number.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.

        keys : sequence of str, default=("loss", "val_loss")
            Keys of ``history`` to draw; missing ``val_`` keys (nothing held
            out) are skipped, other missing keys raise.

        logy : bool, default=False
            Whether to use a logarithmic y axis.

        Returns
        -------
        display : LossCurveDisplay
        """
        if not isinstance(self.history, Mapping):
            raise TypeError(
                f"history must be a dict of per-epoch lists, got {type(self.history).__name__}."
            )
        missing = [key for key in keys if key not in self.history and not key.startswith("val_")]
        if missing:
            raise ValueError(f"history has no {missing!r}; it has {sorted(self.history)!r}.")
        figure, ax = _axes(ax)
        self.lines_ = {}
        for key in keys:
            if key in self.history:
                values = np.asarray(self.history[key], dtype=np.float64)
                epochs = np.arange(1, len(values) + 1)
                (self.lines_[key],) = ax.plot(epochs, values, label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        if logy:
            ax.set_yscale("log")
        ax.legend()
        self.figure_, self.ax_ = figure, ax
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, **kwargs):
        """Plot ``estimator.history_``.

        Parameters
        ----------
        estimator : fitted VariationalAutoencoder

        ax : matplotlib Axes, default=None
            Axes to draw on.

        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : LossCurveDisplay
        """
        check_is_fitted(estimator)
        return cls(estimator.history_).plot(ax=ax, **kwargs)
