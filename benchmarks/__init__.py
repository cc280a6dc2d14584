"""Benchmarks of skvae: run from the repository root as ``python -m benchmarks.run``.

Running them as modules from the repository root puts the checkout first on
``sys.path``, so they measure this checkout's skvae rather than an installed
one; the worker processes they start inherit that path.
"""

import os

# Before any submodule imports TensorFlow, whose C++ start-up logging would
# otherwise bury the report.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
