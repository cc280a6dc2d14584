"""The test matrix. ``.ci/run`` runs the README's test command, then these sessions.

    pip install -c .ci/tools.txt nox
    nox -l                 # list the sessions
    nox -s minimum         # run one

Sessions (each prints its name, its Python and every dependency's version):

``tests``
    The README's test command on Python 3.11 with the newest dependencies
    (``.ci/run`` runs that command itself, verbatim, before the others):
    every test but those marked slow.
``minimum``
    Every lower bound that pyproject.toml declares, pinned by
    ``.ci/minimum-versions.txt``, on the oldest Python it declares: the
    README's selection, then the tests marked slow, so every test runs in CI.
``newest_python``
    The newest Python that TensorFlow publishes wheels for, newest dependencies.
``jax``
    The README's selection of a documented subset of the suite
    (``JAX_PYTEST_ARGS``) on Keras' JAX backend (CPU), with the ``jax``
    extra and the newest dependencies; the TensorFlow-only tests are
    skipped with their reason. Then the slow tests of ``test_backends``
    (model files written on one backend, loaded on the other).
``lowest_tensorflow``
    The lowest supported TensorFlow with the newest of everything else, the
    corner the ``minimum`` session (every extra pinned low) never sees: the
    README's install with ``tensorflow==2.16.1``, every extra imported, the
    whole suite collected (no collection error) and the ONNX tests run.
``package``
    Builds the sdist and the wheel, ``twine check --strict``\\ s them, installs
    the wheel alone into a fresh environment outside the source tree and runs
    ``.ci/smoke_installed.py`` there.
"""

import functools
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
MINIMUM_VERSIONS = ".ci/minimum-versions.txt"
TOOLS = ".ci/tools.txt"

# The README's Python.
MAIN_PYTHON = "3.11"
# requires-python's lower bound (tests/test_packaging.py checks they agree).
OLDEST_PYTHON = "3.10"
# TensorFlow 2.21 has cp313 wheels; for 3.14 it has only a 2.22 release candidate.
NEWEST_PYTHON = "3.13"

# How the suite is split. pyproject.toml's addopts has -m "not slow", so the
# README's command (and the tests session) runs every test but the slow ones,
# in minutes on two cores. The slow tests need a long run by their purpose:
# the soak of test_long_running (30 fits in one process), the Sphinx build,
# the gallery examples, the benchmark smoke runs, the dask clusters and the
# two-worker and mirrored-strategy fits in fresh processes. They run once, in
# the minimum session, after its run of the README's selection: most of them
# test a lower bound too (Sphinx and sphinx-gallery build the docs,
# matplotlib draws the examples, dask 2024.1 starts the clusters, TensorFlow
# 2.16 distributes the training), and the soak checks that this process's
# memory and time per fit stay flat with the oldest TensorFlow and Keras as
# well. -m slow on the command line overrides addopts' -m; -n 0 runs them one
# at a time in one process, as the soak's CPU time per fit must not depend on
# what another worker runs meanwhile (most of the others start processes of
# their own anyway).
MINIMUM_SLOW_PYTEST_ARGS = ["-m", "slow", "-n", "0"]
# A new Python changes the interpreter and the wheels built for it, not
# skvae's numerics or scikit-learn's estimator checks, which the other
# sessions cover. These tests exercise what depends on the interpreter:
# pickling and joblib workers, fresh interpreters with other hash seeds,
# argparse, the IDX readers, hypothesis, the private upstream names of
# _compat, the ONNX converters and onnxruntime (wheels built for each
# Python), the doctests (about half the suite's time on 2 cores; the slow
# tests, the docs build, the examples and test_common stay in the other
# sessions). The slow tests are left out by addopts' -m "not slow".
NEWEST_PYTHON_PYTEST_ARGS = [
    "skvae",
    "tests/test_estimator.py",
    "tests/test_losses.py",
    "tests/test_determinism.py",
    "tests/test_cli.py",
    "tests/test_datasets.py",
    "tests/test_bad_input.py",
    "tests/test_score_samples.py",
    "tests/test_integration.py",
    "tests/test_fitted_state.py",
    "tests/test_compat.py",
    "tests/test_data.py",
    "tests/test_inference.py",
    "tests/test_model.py",
    "tests/test_packaging.py",
    "tests/test_onnx.py",
]

# The jax session's selection: the estimators' behaviour end to end, the
# backends' own tests, seeds and the math that runs in the compiled graph.
# XLA compiles every new model's steps, so a fit on JAX costs more on a CPU
# than on TensorFlow, and the whole README selection on JAX would add about
# as long as its run on TensorFlow to CI; the rest of the suite (the
# doctests, the command line, the docs, the examples, scikit-learn's common
# checks) drives the same code through these paths.
JAX_PYTEST_ARGS = [
    "tests/test_backends.py",
    "tests/test_estimator.py",
    "tests/test_imputer.py",
    "tests/test_model.py",
    "tests/test_likelihoods.py",
    "tests/test_inference.py",
    "tests/test_score_samples.py",
    "tests/test_data.py",
    "tests/test_determinism.py",
]
# The lowest TensorFlow that pyproject.toml admits.
LOWEST_TENSORFLOW = "tensorflow==2.16.1"
# What each extra needs importable; onnx failed here at onnx 1.19.
EXTRA_IMPORTS = "import matplotlib, pandas, dask.distributed, sphinx, onnx, skl2onnx, onnxruntime"

nox.options.sessions = ["tests", "minimum", "newest_python", "jax", "lowest_tensorflow", "package"]
nox.options.error_on_missing_interpreters = True
# Interpreters come from this machine only; nothing is downloaded.
nox.options.download_python = "never"


def _let_pyenv_shims_run_every_python():
    """Make pyenv's ``python3.X`` shims run every installed 3.x, not just the global one.

    A shim runs only the versions named by PYENV_VERSION (or the global
    version file); the global version stays first, so ``python3`` is unchanged.
    """
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    executable = shutil.which("pyenv") or shutil.which("pyenv", path=str(pyenv_root / "bin"))
    if "PYENV_VERSION" in os.environ or not executable:
        return

    def pyenv(*args):
        result = subprocess.run([executable, *args], capture_output=True, text=True)
        return result.stdout.split() if result.returncode == 0 else []

    current = [v for name in pyenv("version-name") for v in name.split(":")]
    installed = [v for v in pyenv("versions", "--bare") if re.fullmatch(r"3\.\d+\.\d+", v)]
    if installed:
        os.environ["PYENV_VERSION"] = ":".join(dict.fromkeys([*current, *installed]))


_let_pyenv_shims_run_every_python()


def _timed(session_function):
    """Log how long the session took, in seconds, once it has passed."""

    @functools.wraps(session_function)
    def run(session):
        started = time.monotonic()
        session_function(session)
        session.log(f"session {session.name} passed in {time.monotonic() - started:.0f} s")

    return run


def _report_versions(session, *args):
    session.run("python", "-m", "pip", "check")
    session.run("python", ".ci/versions.py", session.name, *args)


def _pytest(session, *args, env=None):
    session.run("python", "-m", "pytest", *args, *session.posargs, env=env)


@nox.session(python=MAIN_PYTHON)
@_timed
def tests(session):
    """The README's test command: newest dependencies, the whole suite."""
    session.install("--upgrade", "pip")
    session.install(".[test]")
    _report_versions(session)
    _pytest(session)


@nox.session(python=OLDEST_PYTHON)
@_timed
def minimum(session):
    """Every declared lower bound, on the oldest declared Python; the slow tests too."""
    session.install("--upgrade", "pip")
    # PIP_CONSTRAINT also reaches pip's isolated build of skvae (setuptools).
    session.install(
        "-c", MINIMUM_VERSIONS, ".[test]", env={"PIP_CONSTRAINT": str(ROOT / MINIMUM_VERSIONS)}
    )
    _report_versions(session, "--expect", MINIMUM_VERSIONS)
    _pytest(session)
    _pytest(session, *MINIMUM_SLOW_PYTEST_ARGS)


@nox.session(python=NEWEST_PYTHON)
@_timed
def newest_python(session):
    """The newest Python that TensorFlow has wheels for, newest dependencies."""
    session.install("--upgrade", "pip")
    session.install(".[test]")
    _report_versions(session)
    _pytest(session, *NEWEST_PYTHON_PYTEST_ARGS)


@nox.session(python=MAIN_PYTHON)
@_timed
def jax(session):
    """A subset of the README's selection on Keras' JAX backend, on the CPU."""
    session.install("--upgrade", "pip")
    session.install(".[test,jax]")
    _report_versions(session)
    _pytest(session, *JAX_PYTEST_ARGS, env={"KERAS_BACKEND": "jax"})
    # Model files across backends and seeds in fresh processes: slow, and
    # only here is JAX installed beside TensorFlow.
    _pytest(session, "-m", "slow", "-n", "0", "tests/test_backends.py")


@nox.session(python=MAIN_PYTHON)
@_timed
def lowest_tensorflow(session):
    """The lowest TensorFlow beside the newest extras: each imports, or pip refuses it."""
    session.install("--upgrade", "pip")
    session.install(".[test]", LOWEST_TENSORFLOW)
    _report_versions(session)
    session.run("python", "-c", EXTRA_IMPORTS)
    _pytest(session, "--collect-only", "-q")
    # ONNX's and pandas' newest releases beside the lowest TensorFlow's
    # NumPy: onnx 1.19 failed to import here, and pandas 3.0 read CSV files
    # inexactly (the command line's files).
    _pytest(session, "tests/test_onnx.py", "tests/test_cli.py")
    # The jax extra needs an ml_dtypes that TensorFlow before 2.19 forbids:
    # beside the lowest TensorFlow, pip must refuse it rather than install a
    # pair that cannot import.
    refusal = session.run(
        "python",
        "-m",
        "pip",
        "install",
        "--dry-run",
        ".[jax]",
        LOWEST_TENSORFLOW,
        success_codes=[1],
        silent=True,
    )
    if "ResolutionImpossible" not in refusal:
        session.error(f"pip did not refuse the jax extra beside {LOWEST_TENSORFLOW}:\n{refusal}")
    session.log(f"pip refuses the jax extra beside {LOWEST_TENSORFLOW}")


def _source_files():
    """Files of the ``skvae`` package in the source tree, as paths inside the wheel."""
    tracked = subprocess.run(
        ["git", "ls-files", "skvae"], cwd=ROOT, capture_output=True, text=True
    )
    if tracked.returncode == 0 and tracked.stdout.strip():
        return set(tracked.stdout.split())
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "skvae").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@nox.session(python=MAIN_PYTHON)
@_timed
def package(session):
    """Build, check, install the wheel alone outside the tree, smoke-test it."""
    session.install("--upgrade", "pip")
    session.install("-c", TOOLS, "build", "twine")
    dist = Path(session.create_tmp()) / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    # Without --sdist/--wheel, build makes the sdist and then the wheel from
    # it, so a file missing from the sdist fails here too.
    session.run("python", "-m", "build", "--outdir", str(dist), ".")
    artifacts = sorted(str(path) for path in dist.iterdir())
    session.run("twine", "check", "--strict", *artifacts)

    (wheel,) = dist.glob("*.whl")
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_source_files() - in_wheel)
    if missing:
        session.error(f"{wheel.name} lacks {', '.join(missing)}")
    session.log(f"{wheel.name} holds every file of skvae/ in the source tree")

    # A fresh environment in a directory with no source tree in or above it.
    outside = Path(tempfile.mkdtemp(prefix="skvae-wheel-"))
    try:
        session.run("python", "-m", "venv", str(outside / "venv"))
        python = str(outside / "venv" / "bin" / "python")
        session.run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip", external=True)
        session.run(python, "-m", "pip", "install", str(wheel), external=True)
        session.run(python, "-m", "pip", "check", external=True)
        shutil.copy(ROOT / ".ci" / "versions.py", outside)
        shutil.copy(ROOT / ".ci" / "smoke_installed.py", outside)
        session.chdir(outside)
        session.run(python, "versions.py", session.name, external=True)
        session.run(python, "smoke_installed.py", str(ROOT), external=True, env={"PYTHONPATH": ""})
    finally:
        session.chdir(ROOT)
        shutil.rmtree(outside, ignore_errors=True)
