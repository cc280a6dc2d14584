"""Smoke test of an installed skvae wheel, run outside the source tree.

    python smoke_installed.py SOURCE_TREE

Checks that ``skvae`` is imported from site-packages and not from
SOURCE_TREE, imports every module of the package (those that need an
extra the wheel alone does not bring, matplotlib, dask, onnx or jax, may
fail on that only), fits a small model, runs the examples in
``VariationalAutoencoder``'s docstring and the ``skvae --help`` console
script. A module or file left out of the wheel
fails here even when every test passes against the source tree.
"""

import doctest
import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(source_tree):
    import skvae

    location = Path(skvae.__file__).resolve()
    print(f"skvae {skvae.__version__} imported from {location}")
    assert Path(source_tree).resolve() not in location.parents, "imported the source tree"
    assert "site-packages" in location.parts, location

    # Every module, so a .py file missing from the wheel fails to import.
    # The wheel is installed without extras: the modules that draw pictures
    # may need matplotlib (the `plot` extra), skvae.dask may need dask (the
    # `distributed` extra), the ONNX converters onnx and skl2onnx (the
    # `onnx` extra) and skvae._backends.jax needs jax (the `jax` extra), and
    # nothing else.
    optional = {
        "matplotlib": "plot",
        "dask": "distributed",
        "onnx": "onnx",
        "skl2onnx": "onnx",
        "jax": "jax",
    }
    modules = [info.name for info in pkgutil.walk_packages(skvae.__path__, "skvae.")]
    need_extra = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            # skvae.dask re-raises with an install hint; the cause names the module.
            missing = error.__cause__ if isinstance(error.__cause__, ImportError) else error
            top_level = (missing.name or "").split(".")[0]
            if top_level not in optional:
                raise
            need_extra[name] = optional[top_level]
    print(f"imported {len(modules) - len(need_extra)} modules of {len(modules)}:")
    print("  " + ", ".join(m for m in modules if m not in need_extra))
    print("  need an extra: " + (", ".join(f"{m} ({e})" for m, e in need_extra.items()) or "none"))

    # A short fit on scikit-learn's bundled digits.
    import numpy as np
    from sklearn.datasets import load_digits

    from skvae import VariationalAutoencoder

    X = (load_digits().data[:300] / 16).astype(np.float32)
    vae = VariationalAutoencoder(latent_dim=2, epochs=2, random_state=0).fit(X)
    Z = vae.transform(X)
    score = vae.score(X)
    assert Z.shape == (300, 2) and np.all(np.isfinite(Z)) and np.isfinite(score), (Z, score)
    print(f"fit: {vae.n_iter_} epochs, mean ELBO {score:.1f} nats")

    # The doctest of the estimator's class docstring, as the docs show it.
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(VariationalAutoencoder, "skvae.VariationalAutoencoder"):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0 and results.failed == 0, results
    print(f"doctest skvae.VariationalAutoencoder: {results.attempted} examples passed")

    # The console script the wheel installs, next to this interpreter.
    script = shutil.which("skvae", path=str(Path(sys.executable).parent))
    assert script, "no skvae console script next to the interpreter"
    help_text = subprocess.run([script, "--help"], check=True, capture_output=True, text=True)
    assert "usage: skvae" in help_text.stdout, help_text.stdout
    print(f"{script} --help: {help_text.stdout.splitlines()[0]}")
    print("smoke test passed")


if __name__ == "__main__":
    main(sys.argv[1])
