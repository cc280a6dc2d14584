"""Image-grid displays: reconstructions, generated samples, interpolations.

Every display reads its images with :func:`_as_images` and draws them as one
mosaic per axes, with NaN (blank or transparent) gaps between the tiles.
"""

import math
from collections.abc import Sequence

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._plot_common import figure_and_axes, pyplot
from ._validation import normalize_image_shape

# Blank pixels between the tiles of a mosaic.
_GAP = 1


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


def _mosaic(images, n_cols):
    """Tile ``(n, h, w, c)`` images into one ``(H, W, c)`` array, NaN between tiles."""
    n, height, width, channels = images.shape
    n_rows = math.ceil(n / n_cols)
    mosaic = np.full(
        (n_rows * (height + _GAP) - _GAP, n_cols * (width + _GAP) - _GAP, channels), np.nan
    )
    for index, image in enumerate(images):
        row, col = divmod(index, n_cols)
        top, left = row * (height + _GAP), col * (width + _GAP)
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
        colormap = pyplot().get_cmap(cmap).with_extremes(bad="white")
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


def _fitted_image_shape(estimator, image_shape):
    """The ``image_shape`` given, else the fitted estimator's ``image_shape_``."""
    check_is_fitted(estimator)
    return image_shape if image_shape is not None else estimator.image_shape_


class _ImageGridDisplay:
    """Shared plotting of an image mosaic with optional row labels."""

    def _plot_grid(self, images, n_cols, row_labels, ax, cmap):
        figure, ax = figure_and_axes(ax)
        self.image_ = _show_mosaic(ax, _mosaic(images, n_cols), cmap)
        if row_labels:
            height = images.shape[1]
            ax.set_yticks(
                [row * (height + _GAP) + (height - 1) / 2 for row in range(len(row_labels))]
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
        shape = _fitted_image_shape(estimator, image_shape)
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
        shape = _fitted_image_shape(estimator, image_shape)
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
        shape = _fitted_image_shape(estimator, image_shape)
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
