"""Every gallery example runs to the end in smoke mode (few epochs and samples)."""

import runpy
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("plot_*.py"))
#: Data packages an example reads its table from (pyproject.toml's docs extra,
#: so the test extra, declares them): without one, that example is skipped.
DATA_PACKAGES = {"plot_mixed_tables": "palmerpenguins"}


@pytest.fixture
def smoke_mode(monkeypatch, tmp_path):
    monkeypatch.setenv("SKVAE_EXAMPLES_SMOKE", "1")
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)  # anything an example writes lands here
    yield
    plt.close("all")


def run_example(script, monkeypatch, *argv):
    monkeypatch.setattr("sys.argv", [str(script), *argv])
    return runpy.run_path(str(script), run_name="__main__")


def test_every_example_is_collected():
    assert {script.stem for script in SCRIPTS} >= {
        "plot_quick_start",
        "plot_pipeline_classifier",
        "plot_grid_search",
        "plot_denoising",
        "plot_mnist_generation",
        "plot_anomaly_detection",
        "plot_imputation",
        "plot_mixed_tables",
    }
    for script in SCRIPTS:
        # sphinx-gallery needs an RST title as the module docstring.
        lines = script.read_text().splitlines()
        assert lines[0] == '"""' and set(lines[1]) == {"="} and len(lines[1]) >= len(lines[2])


# Each example trains several models even in smoke mode: slow, left to CI's
# slow run (where the Sphinx build of test_docs runs them a second time, under
# sphinx-gallery). The checks of the examples' structure above and below stay fast.
@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[script.stem for script in SCRIPTS])
def test_example_runs_in_smoke_mode(script, smoke_mode, monkeypatch, capsys, tiny_mnist_dir):
    if script.stem in DATA_PACKAGES:
        package = DATA_PACKAGES[script.stem]
        pytest.importorskip(
            package,
            reason=f"{script.name} reads its table from the {package} package (pip install "
            "skvae[docs] or skvae[test]), which is not installed",
        )
    # The MNIST example reads a tiny IDX set written here, never the real data.
    monkeypatch.setenv("SKVAE_MNIST_DIR", str(tiny_mnist_dir))
    namespace = run_example(script, monkeypatch)
    assert plt.get_fignums(), f"{script.name} drew no figure"
    assert namespace["SMOKE"] is True
    assert capsys.readouterr().out.strip(), f"{script.name} printed no result"


def test_mnist_example_skips_cleanly_without_data(smoke_mode, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SKVAE_MNIST_DIR", str(tmp_path / "no-mnist-here"))
    namespace = run_example(EXAMPLES / "plot_mnist_generation.py", monkeypatch)
    assert namespace["images"] is None
    assert "MNIST not found" in capsys.readouterr().out
    assert not plt.get_fignums()


def test_mnist_example_takes_the_directory_as_argument(smoke_mode, monkeypatch, tmp_path):
    monkeypatch.setenv("SKVAE_MNIST_DIR", "/elsewhere")
    namespace = run_example(EXAMPLES / "plot_mnist_generation.py", monkeypatch, str(tmp_path))
    assert namespace["directory"] == tmp_path
