"""The ``skvae`` command line: demo, fit, sample and its one-line errors."""

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

import skvae
from skvae import VariationalAutoencoder
from skvae._cli import main
from skvae._tables import read_data

FAST = ["--epochs", "1", "--batch-size", "16", "--quiet"]


def run_cli(capsys, *argv):
    """Exit code, stdout and stderr of ``skvae argv``; argparse's exits included."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    assert err.endswith("\n") and err.count("\n") == 1, f"expected one line, got {err!r}"
    for fragment in fragments:
        assert fragment in err


def without_pickle_note(err, path):
    """``err`` without the note that reading joblib file ``path`` prints first."""
    note, rest = err.split("\n", 1)
    assert note.startswith(f"note: {str(path)!r} is a joblib (pickle) file"), err
    assert "sources you trust" in note
    return rest


@pytest.fixture(scope="module")
def digit_images():
    """Eighty 8x8 digits as uint8 images (0-255), like MNIST files hold."""
    from sklearn.datasets import load_digits

    return (load_digits().images[:80] * 255 / 16).round().astype(np.uint8)


def test_help_lists_the_commands(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for command in ("demo", "fit", "transform", "reconstruct", "score", "impute", "sample"):
        assert command in out


def test_fit_help_documents_data_formats_and_scaling(capsys):
    code, out, _ = run_cli(capsys, "fit", "--help")
    assert code == 0
    text = " ".join(out.split())
    for fragment in (".npy", ".npz", "IDX", "uint8", "255", "--latent-dim", "--alpha"):
        assert fragment in text
    for fragment in ("CSV", "Parquet", "--imputer", "--standardize", "--image-shape"):
        assert fragment in text
    assert "square" not in text  # square column counts are not read as images


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["frobnicate"], "invalid choice"),
        (["fit"], "required: DATA"),
        (["fit", "x.npy", "--epochs", "0"], "must be positive"),
        (["fit", "x.npy", "--alpha", "abc"], "expected a number"),
        (["sample", "m.joblib", "-n", "-3"], "must be positive"),
        (["--epochs", "two"], "expected an integer"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, fragment):
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, fragment)


def test_fit_reports_a_missing_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "fit", str(tmp_path / "nothing.npy"))
    assert_one_line_error(code, err, "cannot read DATA", "nothing.npy", "No such file")


def test_fit_reports_a_file_that_is_not_idx(capsys, tmp_path):
    path = tmp_path / "images.idx"
    path.write_bytes(b"hello, I am a text file\n")
    code, _, err = run_cli(capsys, "fit", str(path))
    assert_one_line_error(code, err, "not an IDX file")


def test_fit_reports_a_damaged_npy(capsys, tmp_path):
    path = tmp_path / "broken.npy"
    np.save(path, np.zeros((10, 16)))
    path.write_bytes(path.read_bytes()[:60])
    code, _, err = run_cli(capsys, "fit", str(path))
    assert_one_line_error(code, err, "cannot read DATA")


def test_fit_asks_for_a_key_in_ambiguous_npz(capsys, tmp_path):
    path = tmp_path / "two.npz"
    np.savez(path, images=np.zeros((4, 16)), labels=np.zeros(4))
    code, _, err = run_cli(capsys, "fit", str(path))
    assert_one_line_error(code, err, "--key", "images")


@pytest.mark.parametrize("shape", [(10,), (1, 16), (2, 2, 2, 2, 2)])
def test_fit_refuses_arrays_that_are_not_samples(capsys, tmp_path, shape):
    path = tmp_path / "odd.npy"
    np.save(path, np.zeros(shape))
    code, _, err = run_cli(capsys, "fit", str(path))
    assert_one_line_error(code, err, f"shape {shape}")


def test_fit_reports_data_the_estimator_refuses(capsys, tmp_path):
    path = tmp_path / "nan.npy"
    np.save(path, np.full((10, 4), np.nan))
    code, _, err = run_cli(capsys, "fit", str(path), *FAST)
    assert_one_line_error(code, err, "cannot fit", "NaN")


def test_fit_scales_uint8_images_and_saves_a_model(capsys, tmp_path, digit_images):
    data, model = tmp_path / "digits.npy", tmp_path / "out" / "model.skvae"
    np.save(data, digit_images)
    code, out, err = run_cli(
        capsys, "fit", str(data), "--out", str(model), "--latent-dim", "3", "--seed", "1", *FAST
    )
    assert (code, err) == (0, "")
    assert str(model) in out

    vae = skvae.load(model)
    assert isinstance(vae, VariationalAutoencoder)
    assert vae.latent_dim == 3 and vae.n_iter_ == 1 and vae.random_state == 1
    assert vae.image_shape_ == (8, 8, 1)
    # Pixels 0-255 were divided by 255, so the decoder got a sigmoid output.
    assert vae.output_activation_ == "sigmoid"
    scaled = digit_images[..., None].astype(np.float32) / 255
    assert np.isfinite(vae.score(scaled))


def test_fit_on_uint8_file_gives_the_model_fitted_from_python(
    capsys, tmp_path, monkeypatch, digit_images
):
    # The estimator reads uint8 as 8-bit intensities and samples in 0-255; the
    # command line must hand it the same array rather than a [0, 1] float copy.
    data = tmp_path / "digits.npy"
    np.save(data, digit_images)
    monkeypatch.chdir(tmp_path)  # the model goes to the default file, here
    code, _, err = run_cli(capsys, "fit", str(data), "--seed", "2", *FAST)
    assert (code, err) == (0, "")

    from_python = VariationalAutoencoder(epochs=1, batch_size=16, random_state=2)
    from_python.fit(digit_images[..., None])
    expected = from_python.sample(6, random_state=0)
    assert expected.max() > 1  # pixels come back in 0-255
    saved = skvae.load(tmp_path / "model.skvae")
    np.testing.assert_allclose(saved.sample(6, random_state=0), expected, rtol=1e-5)


@pytest.mark.parametrize("suffix", [".npy", "-idx3-ubyte"])
def test_fit_hands_the_estimator_the_file_memory_mapped(
    capsys, tmp_path, monkeypatch, digit_images, suffix
):
    data = tmp_path / f"digits{suffix}"
    if suffix == ".npy":
        np.save(data, digit_images)
    else:
        header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", *digit_images.shape)
        data.write_bytes(header + digit_images.tobytes())
    seen = []
    original_fit = VariationalAutoencoder.fit

    def recording_fit(self, X, *args, **kwargs):
        seen.append(X)
        return original_fit(self, X, *args, **kwargs)

    monkeypatch.setattr(VariationalAutoencoder, "fit", recording_fit)
    code, _, err = run_cli(capsys, "fit", str(data), "--out", str(tmp_path / "m.skvae"), *FAST)
    assert (code, err) == (0, "")
    (X,) = seen
    # A view of the file on disk, not a copy in memory (float or otherwise).
    assert isinstance(X, np.memmap) and X.dtype == np.uint8
    assert X.shape == (*digit_images.shape, 1)
    np.testing.assert_array_equal(X[..., 0], digit_images)


@pytest.mark.parametrize("compress", [False, True], ids=["idx", "idx-gz"])
def test_fit_reads_idx_files(capsys, tmp_path, digit_images, compress):
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", *digit_images.shape)
    raw = header + digit_images.tobytes()
    data = tmp_path / ("images-idx3-ubyte" + (".gz" if compress else ""))
    data.write_bytes(gzip.compress(raw) if compress else raw)
    model = tmp_path / "model.skvae"
    code, _, err = run_cli(capsys, "fit", str(data), "--out", str(model), *FAST)
    assert (code, err) == (0, "")
    assert skvae.load(model).n_features_in_ == 64


def test_fit_uses_the_named_npz_array(capsys, tmp_path):
    rows = np.random.default_rng(0).random((40, 5))
    data, model = tmp_path / "table.npz", tmp_path / "model.skvae"
    np.savez(data, X=rows, y=np.zeros(40))
    code, _, err = run_cli(capsys, "fit", str(data), "--out", str(model), *FAST)
    assert (code, err) == (0, "")
    vae = skvae.load(model)
    assert vae.architecture_ == "dense" and vae.n_features_in_ == 5


@pytest.fixture(scope="module")
def fitted_model(digit_images):
    vae = VariationalAutoencoder(
        epochs=1, batch_size=16, conv_filters=(4, 8), conv_strides=(1, 2), random_state=0
    )
    return vae.fit(digit_images[..., None] / 255)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, fitted_model):
    path = tmp_path_factory.mktemp("model") / "model.skvae"
    skvae.save(fitted_model, path)
    return path


def test_fit_writes_a_joblib_file_when_asked_and_sample_reads_it_only_when_allowed(
    capsys, tmp_path, digit_images
):
    data, model = tmp_path / "digits.npy", tmp_path / "model.joblib"
    np.save(data, digit_images)
    code, _, err = run_cli(capsys, "fit", str(data), "--out", str(model), *FAST)
    assert (code, err) == (0, "")
    assert isinstance(joblib.load(model), VariationalAutoencoder)

    out = tmp_path / "samples.npy"
    code, _, err = run_cli(capsys, "sample", str(model), "-n", "2", "--out", str(out))
    assert_one_line_error(code, err, "is a pickle (joblib) file", "--allow-pickle")
    assert not out.exists()
    code, stdout, err = run_cli(
        capsys, "sample", str(model), "-n", "2", "--out", str(out), "--allow-pickle"
    )
    assert code == 0 and "2 samples" in stdout
    assert without_pickle_note(err, model) == ""


@pytest.mark.parametrize("name", ["model.joblib", "model.bin", "model"])
def test_sample_reads_a_skvae_file_whatever_its_name(capsys, tmp_path, saved_model, name):
    # The zip magic says it is a .skvae file: it is never unpickled.
    path = tmp_path / name
    path.write_bytes(saved_model.read_bytes())
    out = tmp_path / "samples.npy"
    code, _, err = run_cli(capsys, "sample", str(path), "-n", "2", "--out", str(out))
    assert (code, err) == (0, "")


def test_sample_writes_a_png(capsys, tmp_path, saved_model):
    out = tmp_path / "pictures" / "samples.png"
    code, stdout, err = run_cli(capsys, "sample", str(saved_model), "-n", "9", "--out", str(out))
    assert (code, err) == (0, "")
    assert "9 samples" in stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sample_writes_an_array_that_matches_sample(capsys, tmp_path, saved_model):
    out = tmp_path / "samples.npy"
    code, _, _ = run_cli(
        capsys, "sample", str(saved_model), "-n", "5", "--seed", "3", "--out", str(out)
    )
    assert code == 0
    expected = skvae.load(saved_model).sample(5, random_state=3)
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-6)


def test_sample_noise_flag_is_samples_noise(capsys, tmp_path, saved_model):
    written = {}
    for flag, noise in [("yes", True), ("no", False)]:
        out = tmp_path / f"samples-{flag}.npy"
        code, _, _ = run_cli(
            capsys, "sample", str(saved_model), "-n", "5", "--seed", "3", "--noise", flag,
            "--out", str(out),
        )  # fmt: skip
        assert code == 0
        written[flag] = np.load(out)
        expected = skvae.load(saved_model).sample(5, random_state=3, noise=noise)
        np.testing.assert_allclose(written[flag], expected, rtol=1e-6)
    assert not np.allclose(written["yes"], written["no"])


def test_sample_reports_an_unreadable_model(capsys, tmp_path):
    path = tmp_path / "model.joblib"
    path.write_bytes(b"not a pickle at all")
    code, _, err = run_cli(capsys, "sample", str(path))
    assert_one_line_error(code, err, "is not a .skvae model file", "--allow-pickle")
    code, _, err = run_cli(capsys, "sample", str(path), "--allow-pickle")
    assert_one_line_error(code, without_pickle_note(err, path), "cannot read MODEL")
    for name in ("missing.skvae", "missing.joblib"):
        code, _, err = run_cli(capsys, "sample", str(tmp_path / name))
        assert_one_line_error(code, err, "cannot read MODEL", "No such file")


def test_sample_reports_a_damaged_skvae_file(capsys, tmp_path, saved_model):
    path = tmp_path / "model.skvae"
    path.write_bytes(saved_model.read_bytes()[:-100])
    code, _, err = run_cli(capsys, "sample", str(path))
    assert_one_line_error(code, err, f"cannot read MODEL {str(path)!r}: not a zip archive")
    path.write_bytes(b"a text file")
    code, _, err = run_cli(capsys, "sample", str(path))
    assert_one_line_error(code, err, "cannot read MODEL", "not a zip archive")


def test_sample_refuses_a_file_holding_something_else(capsys, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump({"not": "a model"}, path)
    code, _, err = run_cli(capsys, "sample", str(path), "--allow-pickle")
    assert_one_line_error(code, without_pickle_note(err, path), "holds a dict")

    path = tmp_path / "imputer.skvae"
    rows = np.random.default_rng(0).random((30, 4))
    skvae.save(skvae.VAEImputer(epochs=1, batch_size=8, hidden_layer_sizes=(4,)).fit(rows), path)
    code, _, err = run_cli(capsys, "sample", str(path))
    assert_one_line_error(code, err, "holds a VAEImputer")


def test_sample_refuses_a_picture_of_a_tabular_model(capsys, tmp_path):
    path = tmp_path / "model.skvae"
    rows = np.random.default_rng(0).random((30, 5))
    skvae.save(VariationalAutoencoder(epochs=1, batch_size=8).fit(rows), path)
    code, _, err = run_cli(capsys, "sample", str(path), "--out", str(tmp_path / "s.png"))
    assert_one_line_error(code, err, "tabular", ".npy")


def run_module(*argv, prelude=""):
    """``python -m skvae argv`` in a fresh process, as a user runs it."""
    code = f"{prelude}\nimport runpy; runpy.run_module('skvae', run_name='__main__')"
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        # The child imports the same skvae as these tests (checkout or installed).
        env={**os.environ, "PYTHONPATH": str(Path(skvae.__file__).parents[1])},
    )


def test_errors_are_one_line_even_with_tensorflow_loaded(tmp_path):
    # TensorFlow logs to the stderr descriptor when it loads; the program
    # hides that, so a user sees only its own line.
    data = tmp_path / "nan.npy"
    np.save(data, np.full((10, 4), np.nan))
    result = run_module("fit", str(data), "--epochs", "1")
    assert result.returncode == 2
    assert result.stderr.startswith("skvae fit: error: cannot fit")
    assert result.stderr.count("\n") == 1, result.stderr


def test_picture_commands_say_matplotlib_is_missing(tmp_path, saved_model):
    result = run_module(
        "sample",
        str(saved_model),
        "--out",
        str(tmp_path / "s.png"),
        prelude="import sys; sys.modules['matplotlib'] = None",
    )
    assert result.returncode == 2
    assert result.stderr == (
        "skvae sample: error: 'skvae sample' draws pictures and needs matplotlib: "
        'pip install "skvae[plot]"\n'
    )


def test_demo_writes_the_report(capsys, tmp_path):
    out = tmp_path / "report"
    code, stdout, err = run_cli(capsys, "demo", "--out", str(out), "--epochs", "2", "--quiet")
    assert (code, err) == (0, "")
    for line in ("reconstruction MSE / pixel", "log-likelihood (nats)", "index.html"):
        assert line in stdout

    results = json.loads((out / "results.json").read_text())
    assert results["epochs_run"] == 2 and results["latent_dim"] == 2
    for model in ("vae", "pca"):
        assert set(results[model]) == {"reconstruction_mse", "score", "denoising_mse"}
        assert all(np.isfinite(value) for value in results[model].values())
    pictures = sorted(name for name in os.listdir(out) if name.endswith(".png"))
    assert pictures == [
        "denoising.png",
        "interpolation.png",
        "latent_space.png",
        "loss_curves.png",
        "reconstructions.png",
        "samples.png",
    ]
    index = (out / "index.html").read_text()
    for picture in pictures:
        assert f'src="{picture}"' in index
        assert (out / picture).read_bytes()[:4] == b"\x89PNG"


def test_demo_is_the_default_command(capsys, tmp_path):
    # An unwritable report folder fails before any training.
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_cli(capsys, "--out", str(blocker / "report"))
    assert_one_line_error(code, err, "skvae demo: error: cannot create report folder")


# ------------------------------------------------------------ pickles


class _WritesAFile:
    """Unpickling this writes ``path``: what a hostile model file wants."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.write_text, (Path(self.path), "code ran"))


def test_payload_is_live(tmp_path):
    # The hostile file below does run code when unpickled, so the next test can fail.
    marker = tmp_path / "ran"
    path = tmp_path / "model.joblib"
    joblib.dump(_WritesAFile(marker), path)
    joblib.load(path)
    assert marker.exists()


@pytest.mark.parametrize("name", ["model.joblib", "model.pkl", "model.bin", "model.skvae"])
@pytest.mark.parametrize(
    "command",
    [
        ["sample"],
        ["transform", "DATA", "--out", "OUT.csv"],
        ["reconstruct", "DATA", "--out", "OUT.csv"],
        ["score", "DATA"],
        ["impute", "DATA", "--out", "OUT.csv"],
    ],
    ids=lambda command: command[0],
)
def test_no_command_unpickles_without_allow_pickle(capsys, tmp_path, name, command):
    marker = tmp_path / "code-ran"
    path = tmp_path / name
    joblib.dump(_WritesAFile(marker), path)
    data = tmp_path / "data.npy"
    np.save(data, np.zeros((3, 4)))
    argv = [
        part.replace("DATA", str(data)).replace("OUT", str(tmp_path / "o")) for part in command
    ]
    code, _, err = run_cli(capsys, argv[0], str(path), *argv[1:])
    assert_one_line_error(
        code, err, "is a pickle (joblib) file", "not unpickled", "--allow-pickle"
    )
    assert not marker.exists()


def test_sample_refuses_random_bytes(capsys, tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    code, _, err = run_cli(capsys, "sample", str(path))
    assert_one_line_error(code, err, "random.bin' is not a .skvae model file", "--allow-pickle")


# ------------------------------------------------------------ tables


@pytest.fixture(scope="module")
def table():
    """A table with a header, as a user's CSV file holds: 60 rows, an integer column."""
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(60, 1))
    frame = pd.DataFrame(
        {
            "height": 170 + 10 * latent[:, 0] + rng.normal(size=60),
            "weight": 70 + 8 * latent[:, 0] + rng.normal(size=60),
            "age": rng.integers(20, 60, size=60),
        }
    )
    return frame


TABLE_FAST = ["--epochs", "2", "--batch-size", "16", "--hidden-layer-sizes", "8", "--quiet"]


def test_a_csv_is_read_exactly_as_pandas_wrote_it(tmp_path):
    # The imputer gives observed cells back unchanged only if the reader is
    # exact: pandas 3.0's default parser was off in the last place for 3% of
    # these (with NumPy 1.26, beside TensorFlow 2.16).
    values = 160 + 20 * np.random.default_rng(0).random(2000)
    pd.DataFrame({"height": values}).to_csv(tmp_path / "heights.csv", index=False)
    np.testing.assert_array_equal(read_data(tmp_path / "heights.csv")["height"], values)


def test_fit_reads_a_csv_and_keeps_its_column_names(capsys, tmp_path, table):
    data, model = tmp_path / "people.csv", tmp_path / "model.skvae"
    table.to_csv(data, index=False)
    code, _, err = run_cli(capsys, "fit", str(data), "--out", str(model), *TABLE_FAST)
    assert (code, err) == (0, ""), err
    vae = skvae.load(model)
    assert list(vae.feature_names_in_) == ["height", "weight", "age"]
    assert vae.hidden_layer_sizes == (8,) and vae.n_iter_ == 2


@pytest.mark.parametrize("suffix", [".parquet", ".tsv", ".csv.gz"])
def test_tables_in_other_formats(capsys, tmp_path, table, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
        table.to_parquet(tmp_path / f"people{suffix}")
    else:
        table.to_csv(
            tmp_path / f"people{suffix}", index=False, sep="\t" if suffix == ".tsv" else ","
        )
    model = tmp_path / "model.skvae"
    code, _, err = run_cli(
        capsys, "fit", str(tmp_path / f"people{suffix}"), "--out", str(model), *TABLE_FAST
    )
    assert (code, err) == (0, ""), err
    out = tmp_path / f"latent{suffix.removesuffix('.gz')}"
    code, _, err = run_cli(
        capsys, "transform", str(model), str(tmp_path / f"people{suffix}"), "--out", str(out)
    )
    assert (code, err) == (0, ""), err
    read = pd.read_parquet if suffix == ".parquet" else pd.read_csv
    latent = read(out, **({"sep": "\t"} if suffix == ".tsv" else {}))
    assert list(latent.columns) == ["variationalautoencoder0", "variationalautoencoder1"]
    assert len(latent) == 60


def test_unknown_data_formats_are_refused_by_name(capsys, tmp_path):
    path = tmp_path / "people.xlsx"
    path.write_bytes(b"name;height\nann;170\n")
    code, _, err = run_cli(capsys, "fit", str(path))
    assert_one_line_error(
        code, err, "people.xlsx': not a file format this reads", "CSV", "Parquet"
    )


def test_unknown_output_formats_are_refused_before_loading(capsys, tmp_path, saved_model):
    code, _, err = run_cli(
        capsys, "transform", str(saved_model), "x.npy", "--out", str(tmp_path / "z.xlsx")
    )
    assert_one_line_error(code, err, "name it .csv, .tsv, .parquet or .npy")


def test_standardize_refuses_a_text_column_in_one_line(capsys, tmp_path, table):
    data = tmp_path / "mixed.csv"
    table.assign(colour=["red", "blue"] * 30).to_csv(data, index=False)
    code, _, err = run_cli(capsys, "fit", str(data), "--standardize", *TABLE_FAST)
    assert_one_line_error(code, err, "cannot fit", "non-numeric columns: colour")


def test_a_mixed_table_cannot_be_written_as_npy(capsys, tmp_path, table):
    data = tmp_path / "mixed.csv"
    table.assign(colour=["red", "blue"] * 30).to_csv(data, index=False)
    model = tmp_path / "vae.skvae"
    code, _, err = run_cli(capsys, "fit", str(data), "--out", str(model), *TABLE_FAST)
    assert (code, err) == (0, ""), err
    code, _, err = run_cli(capsys, "sample", str(model), "--out", str(tmp_path / "s.npy"))
    assert_one_line_error(code, err, "text columns", ".csv or .parquet")


def test_the_wrong_columns_are_a_one_line_error(capsys, tmp_path, table):
    data, model = tmp_path / "people.csv", tmp_path / "model.skvae"
    table.to_csv(data, index=False)
    assert run_cli(capsys, "fit", str(data), "--out", str(model), *TABLE_FAST)[0] == 0
    other = tmp_path / "other.csv"
    table[["height", "weight"]].to_csv(other, index=False)
    code, _, err = run_cli(capsys, "score", str(model), str(other))
    assert_one_line_error(code, err, "cannot score DATA", "Feature names", "age")


def test_reconstruct_and_sample_are_in_the_original_units(capsys, tmp_path, table):
    data, model = tmp_path / "people.csv", tmp_path / "model.skvae"
    table.to_csv(data, index=False)
    code, _, err = run_cli(
        capsys, "fit", str(data), "--out", str(model), "--standardize", *TABLE_FAST
    )
    assert (code, err) == (0, ""), err
    pipeline = skvae.load(model)
    assert [type(step).__name__ for step in pipeline] == [
        "StandardScaler",
        "VariationalAutoencoder",
    ]

    out = tmp_path / "reconstructed.csv"
    code, _, err = run_cli(capsys, "reconstruct", str(model), str(data), "--out", str(out))
    assert (code, err) == (0, ""), err
    reconstructed = pd.read_csv(out)
    assert list(reconstructed.columns) == ["height", "weight", "age"]
    scaler, vae = pipeline[0], pipeline[-1]
    expected = scaler.inverse_transform(
        vae.inverse_transform(vae.transform(scaler.transform(table)))
    )
    np.testing.assert_allclose(reconstructed.to_numpy(), expected, rtol=1e-6)
    assert abs(reconstructed["height"].mean() - 170) < 10  # not standardized values near 0

    samples = tmp_path / "samples.csv"
    code, _, err = run_cli(capsys, "sample", str(model), "-n", "5", "--out", str(samples))
    assert (code, err) == (0, ""), err
    drawn = pd.read_csv(samples)
    assert list(drawn.columns) == ["height", "weight", "age"] and len(drawn) == 5
    assert drawn["height"].between(100, 240).all()


def test_score_of_standardized_data_is_in_the_data_units(capsys, tmp_path, table):
    # log p(x) = log p(standardized x) - sum(log scale): a change of units
    # moves the score by exactly that.
    data, model = tmp_path / "people.csv", tmp_path / "model.skvae"
    table.to_csv(data, index=False)
    argv = ["fit", str(data), "--out", str(model), "--standardize", *TABLE_FAST]
    assert run_cli(capsys, *argv)[0] == 0
    rows = tmp_path / "rows.csv"
    code, out, err = run_cli(capsys, "score", str(model), str(data), "--out", str(rows))
    assert (code, err) == (0, ""), err
    pipeline = skvae.load(model)
    standardized = pipeline[-1].score_samples(pipeline[0].transform(table))
    expected = standardized - np.log(pipeline[0].scale_).sum()
    np.testing.assert_allclose(pd.read_csv(rows)["score"], expected, rtol=1e-6)
    assert f"{np.mean(expected):.6g} nats per row" in out


def test_image_shape_reads_rows_as_images(capsys, tmp_path, digit_images):
    data, model = tmp_path / "rows.npy", tmp_path / "model.skvae"
    np.save(data, digit_images.reshape(len(digit_images), 64))
    code, _, err = run_cli(
        capsys, "fit", str(data), "--image-shape", "8,8", "--out", str(model), *FAST
    )
    assert (code, err) == (0, ""), err
    vae = skvae.load(model)
    assert vae.image_shape == (8, 8) and vae.architecture_ == "conv"


def test_image_shape_must_be_two_or_three_sides(capsys):
    code, _, err = run_cli(capsys, "fit", "x.npy", "--image-shape", "8")
    assert_one_line_error(code, err, "HEIGHT,WIDTH")


def test_commands_need_the_right_estimator(capsys, tmp_path, saved_model):
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((3, 8, 8, 1)))
    code, _, err = run_cli(
        capsys, "impute", str(saved_model), str(data), "--out", str(tmp_path / "x.csv")
    )
    assert_one_line_error(code, err, "holds a VariationalAutoencoder", "needs a VAEImputer")


# ------------------------------------------------- the installed command


def _installed_command():
    """The ``skvae`` script installed next to this Python, as a user runs it."""
    import shutil

    found = shutil.which("skvae", path=os.path.dirname(sys.executable))
    if found is None:
        pytest.skip("the skvae command is not installed next to this Python")
    return found


def run_installed(tmp_path, *argv):
    result = subprocess.run(
        [_installed_command(), *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_installed_command_imputes_a_csv_and_runs_every_command(tmp_path, table):
    rng = np.random.default_rng(1)
    incomplete = table.astype({"height": float, "weight": float})
    incomplete["pulse"] = 60 + 5 * rng.normal(size=len(table))
    for column in ("height", "weight", "pulse"):
        incomplete.loc[rng.random(len(table)) < 0.2, column] = np.nan
    incomplete.to_csv(tmp_path / "people.csv", index=False)
    fast = ["--epochs", "2", "--batch-size", "16", "--hidden-layer-sizes", "8"]

    # The imputer: a CSV with empty cells in, a complete CSV out.
    log = run_installed(
        tmp_path, "fit", "people.csv", "--imputer", "--standardize", "--out", "imp.skvae", *fast
    )
    lines = log.splitlines()
    assert all(line.isprintable() for line in lines), log  # progress as plain lines
    assert [line for line in lines if line.startswith("epoch ")][-1].startswith("epoch 2/2 - ")
    run_installed(tmp_path, "impute", "imp.skvae", "people.csv", "--out", "imputed.csv")
    text = (tmp_path / "imputed.csv").read_text()
    header, *rows = text.splitlines()
    assert header == "height,weight,age,pulse"
    assert all("" not in row.split(",") for row in rows) and len(rows) == len(table)
    imputed = read_data(tmp_path / "imputed.csv")  # exactly as written
    observed = incomplete.notna().to_numpy()
    np.testing.assert_array_equal(imputed.to_numpy()[observed], incomplete.to_numpy()[observed])
    assert imputed["age"].dtype.kind == "i"  # a complete integer column stays integers

    # The VAE on the complete rows, standardized: every command, values in the data's units.
    complete = incomplete.dropna()
    complete.to_csv(tmp_path / "complete.csv", index=False)
    run_installed(tmp_path, "fit", "complete.csv", "--standardize", "--out", "vae.skvae", *fast)
    run_installed(tmp_path, "transform", "vae.skvae", "complete.csv", "--out", "latent.csv")
    latent = pd.read_csv(tmp_path / "latent.csv")
    assert latent.shape == (len(complete), 2)
    run_installed(tmp_path, "reconstruct", "vae.skvae", "complete.csv", "--out", "rec.csv")
    reconstructed = pd.read_csv(tmp_path / "rec.csv")
    assert list(reconstructed.columns) == list(complete.columns)
    assert abs(reconstructed["height"].mean() - complete["height"].mean()) < 10
    out = run_installed(tmp_path, "score", "vae.skvae", "complete.csv")
    assert "nats per row" in out
    run_installed(tmp_path, "sample", "vae.skvae", "-n", "7", "--out", "drawn.npy")
    assert np.load(tmp_path / "drawn.npy").shape == (7, 4)


def test_the_installed_command_imputes_and_samples_a_csv_with_a_text_column(tmp_path, table):
    rng = np.random.default_rng(2)
    mixed = table.astype({"height": float})
    mixed["size"] = np.where(table["height"] > table["height"].median(), "tall", "short")
    for column in ("height", "size"):
        mixed.loc[rng.random(len(table)) < 0.2, column] = None
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    fast = ["--epochs", "2", "--batch-size", "16", "--hidden-layer-sizes", "8"]

    run_installed(tmp_path, "fit", "mixed.csv", "--imputer", "--out", "imp.skvae", *fast)
    run_installed(tmp_path, "impute", "imp.skvae", "mixed.csv", "--out", "imputed.csv")
    header, *rows = (tmp_path / "imputed.csv").read_text().splitlines()
    assert header == "height,weight,age,size"
    assert all("" not in row.split(",") for row in rows) and len(rows) == len(table)
    imputed = read_data(tmp_path / "imputed.csv")  # exactly as written
    assert set(imputed["size"]) <= {"tall", "short"}
    observed = mixed.notna().to_numpy()
    np.testing.assert_array_equal(
        imputed.to_numpy(dtype=object)[observed], mixed.to_numpy(dtype=object)[observed]
    )

    complete = mixed.dropna()
    complete.to_csv(tmp_path / "complete.csv", index=False)
    run_installed(tmp_path, "fit", "complete.csv", "--out", "vae.skvae", *fast)
    run_installed(tmp_path, "reconstruct", "vae.skvae", "complete.csv", "--out", "rec.csv")
    assert set(pd.read_csv(tmp_path / "rec.csv")["size"]) <= {"tall", "short"}
    run_installed(tmp_path, "sample", "vae.skvae", "-n", "7", "--out", "drawn.csv")
    drawn = pd.read_csv(tmp_path / "drawn.csv")
    assert list(drawn.columns) == list(complete.columns) and len(drawn) == 7
    assert set(drawn["size"]) <= {"tall", "short"}
    assert "nats per row" in run_installed(tmp_path, "score", "vae.skvae", "complete.csv")


def test_tables_say_pandas_is_missing(tmp_path, table):
    table.to_csv(tmp_path / "people.csv", index=False)
    result = run_module(
        "fit", str(tmp_path / "people.csv"), prelude="import sys; sys.modules['pandas'] = None"
    )
    assert result.returncode == 2
    assert result.stderr.endswith(
        'reading CSV needs pandas: pip install pandas (or "skvae[cli]")\n'
    ), result.stderr
    assert result.stderr.count("\n") == 1


def test_missing_cells_point_to_the_imputer(capsys, tmp_path, table):
    data = tmp_path / "gaps.csv"
    table.astype(float).mask(np.eye(60, 3, dtype=bool)).to_csv(data, index=False)
    code, _, err = run_cli(capsys, "fit", str(data), *TABLE_FAST)
    assert_one_line_error(code, err, "cannot fit", "NaN", "--imputer")


def test_skvae_warnings_are_one_line_each(capsys, tmp_path, table):
    data = tmp_path / "people.csv"
    table.to_csv(data, index=False)
    argv = ["fit", str(data), "--out", str(tmp_path / "m.skvae"), "--batch-size", "500"]
    code, _, err = run_cli(capsys, *argv, "--epochs", "1", "--quiet")
    assert code == 0
    assert err == (
        "skvae fit: warning: batch_size=500 is larger than the 54 training samples; "
        "it is clipped to the number of samples.\n"
    )


def test_an_imputer_scores_the_data_as_a_whole(capsys, tmp_path, table):
    data, model = tmp_path / "gaps.csv", tmp_path / "imputer.skvae"
    table.astype(float).mask(np.eye(60, 3, dtype=bool)).to_csv(data, index=False)
    argv = ["fit", str(data), "--imputer", "--out", str(model), *TABLE_FAST]
    assert run_cli(capsys, *argv)[0] == 0
    code, out, err = run_cli(capsys, "score", str(model), str(data))
    assert (code, err) == (0, "") and "nats per row" in out
    code, _, err = run_cli(
        capsys, "score", str(model), str(data), "--out", str(tmp_path / "s.csv")
    )
    assert_one_line_error(code, err, "as a whole", "leave out --out")


def test_mixed_table_options_reach_the_fit(capsys, tmp_path, table):
    train, new, model = tmp_path / "train.csv", tmp_path / "new.csv", tmp_path / "m.skvae"
    mixed = table.assign(sex=np.where(np.arange(60) % 2, "f", "m"))
    mixed.to_csv(train, index=False)
    mixed.head(3).assign(sex=["f", "x", "m"]).to_csv(new, index=False)
    out = tmp_path / "latent.csv"
    for handle_unknown in ("error", "ignore"):
        fit = ["fit", str(train), "--out", str(model), "--handle-unknown", handle_unknown]
        fit += ["--categorical-weight", "2.5"]
        assert run_cli(capsys, *fit, *TABLE_FAST)[:3:2] == (0, "")
        loaded = skvae.load(model)
        assert (loaded.handle_unknown, loaded.categorical_weight) == (handle_unknown, 2.5)
        code, _, err = run_cli(capsys, "transform", str(model), str(new), "--out", str(out))
        if handle_unknown == "error":
            assert_one_line_error(code, err, "'sex'", "'x'", "handle_unknown='ignore'")
        else:
            assert (code, err) == (0, "")
            assert pd.read_csv(out).shape == (3, 2)
