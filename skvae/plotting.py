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

from ._plot_charts import LatentSpaceDisplay, LossCurveDisplay
from ._plot_images import InterpolationDisplay, ReconstructionDisplay, SamplesDisplay

__all__ = [
    "InterpolationDisplay",
    "LatentSpaceDisplay",
    "LossCurveDisplay",
    "ReconstructionDisplay",
    "SamplesDisplay",
]
