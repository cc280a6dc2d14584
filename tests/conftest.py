import os

import numpy as np
import pytest
from hypothesis import settings
from sklearn.datasets import load_digits

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Every profile drops the per-example deadline: the first call of a Keras
# function traces a graph, which takes far longer than any later call.
# "ci": reproducible runs (selected when CI is set); "local": the default
# elsewhere; "dev": many more examples, for hunting bugs (HYPOTHESIS_PROFILE=dev).
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.register_profile("local", deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=500, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "local")
)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits scaled to [0, 1], as float32 rows."""
    data = load_digits()
    return (data.data / 16).astype(np.float32), data.target
