"""Every private scikit-learn name skvae relies on.

scikit-learn's parameter validation (``fit_context`` and the constraint
classes) is private upstream, but every scikit-learn estimator uses it and
``check_estimator`` expects it; when a release moves a name,
``tests/test_compat.py`` fails on it, and this is the one file to mend. The
private names of TensorFlow and Keras live with their backend, in
:mod:`skvae._backends`.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

__all__ = ["Interval", "StrOptions", "fit_context"]

fit_context = _fit_context
