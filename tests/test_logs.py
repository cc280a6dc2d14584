"""What a fit writes while it runs: progress lines and no stray TensorFlow warnings."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import skvae


def run_python(code, tmp_path, **kwargs):
    """Run ``code`` in a fresh interpreter, stdout and stderr to files; return them."""
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            stdout=stdout,
            stderr=stderr,
            env={
                **os.environ,
                "PYTHONPATH": str(Path(skvae.__file__).parents[1]),
                "TF_CPP_MIN_LOG_LEVEL": "2",
            },
            timeout=600,
            **kwargs,
        )
    assert result.returncode == 0, err.read_text()
    return out.read_text(), err.read_text()


def test_grid_search_logs_no_retracing_warning(tmp_path):
    # Every fit builds a model with its own compiled functions; TensorFlow's
    # frequent-retracing detector warned after about four of them.
    code = """
        import logging
        import numpy as np
        from sklearn.model_selection import GridSearchCV
        from skvae import VariationalAutoencoder

        logging.basicConfig(level=logging.WARNING)  # Python logs to stderr too
        X = np.random.default_rng(0).random((40, 4))
        grid = {"latent_dim": [1, 2], "alpha": ["auto", 10.0]}
        search = GridSearchCV(
            VariationalAutoencoder(epochs=1, batch_size=10, hidden_layer_sizes=(4,)),
            grid,
            cv=2,
        )
        search.fit(X)
        assert len(search.cv_results_["params"]) * 2 + 1 == 9
        print("fitted")
    """
    out, err = run_python(code, tmp_path)
    assert "fitted" in out
    assert "retracing" not in err, err


def test_verbose_fit_writes_one_printable_line_per_epoch_to_a_file(tmp_path):
    code = """
        import numpy as np
        from skvae import VariationalAutoencoder

        X = np.random.default_rng(0).random((40, 4))
        vae = VariationalAutoencoder(epochs=4, early_stopping=False, verbose=1, random_state=0)
        vae.fit(X)
    """
    out, _ = run_python(code, tmp_path)
    lines = out.split("\n")
    assert lines.pop() == ""  # the output ends with a newline
    assert len(lines) == 4
    for epoch, line in enumerate(lines, start=1):
        assert line.isprintable(), repr(line)
        assert line.startswith(f"epoch {epoch}/4 - ") and "loss: " in line


def test_skvae_warnings_have_their_own_category():
    import numpy as np
    import pytest

    X = np.random.default_rng(0).random((6, 3))
    with pytest.warns(skvae.SkvaeWarning, match="batch_size=8 is larger"):
        skvae.VariationalAutoencoder(epochs=1, batch_size=8, hidden_layer_sizes=(4,)).fit(X)
    assert issubclass(skvae.SkvaeWarning, UserWarning)
