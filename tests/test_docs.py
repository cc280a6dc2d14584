"""The Sphinx site builds with ``-W`` (every warning is an error).

The gallery examples are executed in smoke mode (``SKVAE_EXAMPLES_SMOKE=1``:
a few epochs and samples), so the build also checks that each example runs
under sphinx-gallery and that its figures are embedded.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("sphinx_gallery")
pytest.importorskip("numpydoc")
pytest.importorskip("pydata_sphinx_theme")

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sphinx_build_passes_with_warnings_as_errors(tmp_path):
    # Build from a copy of docs/ so the checkout gets no generated files.
    docs = tmp_path / "docs"
    generated = ("_build", "generated", "auto_examples", "sg_execution_times.rst")
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns(*generated))
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {
        **os.environ,
        "SKVAE_EXAMPLES_SMOKE": "1",
        "SKVAE_DOCS_PLOT_GALLERY": "1",
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(ROOT),
    }
    html = tmp_path / "html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(docs),
            str(html),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    # TensorFlow's own log lines would drown Sphinx's messages; leave them out.
    messages = [line for line in result.stderr.splitlines() if "tensorflow" not in line.lower()]
    assert result.returncode == 0, "\n".join(messages[-40:])

    for page in ("index", "install", "user_guide", "scaling", "api", "auto_examples/index"):
        assert (html / f"{page}.html").exists(), page
    assert (html / "generated" / "skvae.dask.score_samples.html").exists()
    api = (html / "generated" / "skvae.VariationalAutoencoder.html").read_text()
    assert "interpolate" in api and "score_samples" in api
    quick_start = (html / "auto_examples" / "plot_quick_start.html").read_text()
    assert "sphx_glr_plot_quick_start_001.png" in quick_start, "the example's figure is missing"
