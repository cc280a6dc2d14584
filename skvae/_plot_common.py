"""Access to matplotlib for the displays of :mod:`skvae.plotting`.

matplotlib is an optional dependency, so it is imported on first use, with
an error that says how to install it.
"""


def pyplot():
    """``matplotlib.pyplot``, or an ImportError that names the missing extra."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "skvae.plotting needs matplotlib; install it with `pip install matplotlib`."
        ) from None
    return plt


def figure_and_axes(ax):
    """``ax`` and its figure, creating both when ``ax`` is None."""
    if ax is None:
        return pyplot().subplots()
    return ax.figure, ax
