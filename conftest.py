"""What pytest's doctest collection of ``skvae/`` leaves out.

``--doctest-modules`` imports every module of the package, whatever Keras'
backend; the JAX backend's module imports JAX, an extra (``skvae[jax]``).
"""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("jax") is None:
    collect_ignore.append("skvae/_backends/jax.py")
