"""Chart displays: the latent space as a scatter plot, training curves."""

from collections.abc import Mapping

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._plot_common import figure_and_axes


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
    >>> vae = VariationalAutoencoder(epochs=1, image_shape=(8, 8), conv_filters=(4, 8),
    ...                              conv_strides=(1, 2), random_state=0).fit(X)
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
        figure, ax = figure_and_axes(ax)
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
        figure, ax = figure_and_axes(ax)
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
