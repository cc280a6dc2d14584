"""The benchmark suite (python -m benchmarks.run) runs end to end, and its yardsticks are right.

``benchmarks`` imports as a package because the suite runs as ``python -m pytest`` from the
repository root, which puts that root on ``sys.path``.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from benchmarks import imputation, run
from benchmarks.harness import FULL, SMOKE
from benchmarks.memory_worker import MB, PeakSampler, read_status
from benchmarks.reference_vae import build_hand_written_vae
from benchmarks.sections.efficiency import forward_flops
from skvae._model import NetworkStructure, build_decoder, build_encoder

# The benchmarks' hand-written reference trains with tf.GradientTape, and
# the harness sets TensorFlow's threads: they run on Keras' TensorFlow backend.
pytestmark = pytest.mark.tensorflow_only

SECTIONS = {"1 fit", "2 inference", "3 quality", "4 scaling", "4 memory", "5 search"}


# The smoke runs below run whole benchmark scripts end to end (every section,
# every imputer, every table): slow by their purpose, so left to CI's slow run.
# The yardsticks they rely on are checked quickly further down.
@pytest.mark.slow
def test_smoke_run_measures_every_section(tiny_mnist_dir, tmp_path, capsys):
    out = tmp_path / "results.json"

    data = ["--data", str(tiny_mnist_dir), "--out", str(out)]
    run.main(["--smoke", "--no-dask", "--fit-epochs", "2", *data])

    results = json.loads(out.read_text())
    assert results["data"].startswith("MNIST from")
    assert results["sizes"]["fit_epochs"] == 2 != SMOKE.fit_epochs
    sections = {row["section"].split(" k=")[0] for row in results["rows"]}
    assert SECTIONS | {"6 efficiency"} <= sections
    for row in results["rows"]:
        if row["ratio"] is not None:
            assert math.isfinite(row["ratio"]), row
        if row["unit"] in {"s", "ms", "images/s", "samples/s", "MB"}:
            assert row["value"] > 0, row
    # The compiled path and Model.predict must agree, or the speed-up is moot.
    assert results["details"]["transform_max_abs_difference"] < 1e-5
    table = capsys.readouterr().out
    assert "| 1 fit | fit throughput" in table
    assert "| 4 memory | peak RssAnon growth" in table


@pytest.mark.slow
def test_imputation_benchmark_runs_every_task(tiny_mnist_dir, tmp_path):
    out = tmp_path / "imputation.json"
    fast = {"epochs": 1, "n_importance_samples": 2, "latent_dim": 2}
    imputers = "VAEImputer,SimpleImputer(mean),KNNImputer(5)"
    data = ["--data", str(tiny_mnist_dir), "--out", str(out)]
    imputation.main([*data, "--params", json.dumps(fast), "--imputers", imputers])
    results = json.loads(out.read_text())
    for task in ("mcar", "bottom", "breast_cancer"):
        rows = {row["imputer"]: row for row in results[task]}
        assert set(rows) == {"VAEImputer", "SimpleImputer(mean)", "KNNImputer(5)"}, task
        for row in rows.values():
            assert 0 < row["rmse"] < 2 and row["fit_s"] > 0, row
    assert 0 < results["mcar"][0]["accuracy"] <= 1


def test_fit_epochs_below_one_are_refused():
    with pytest.raises(SystemExit, match="--fit-epochs: at least 1, got 0"):
        run.main(["--fit-epochs", "0"])


def test_known_pattern_reference_fills_exactly_its_pattern(digits):
    X = digits[0][:200]
    bottom_half = np.arange(X.shape[1]) >= 32
    X_missing = np.where(bottom_half, np.nan, X)
    reference = imputation.KnownPatternRegressor(bottom_half, epochs=2).fit(X)

    X_imputed = reference.transform(X_missing)

    np.testing.assert_array_equal(X_imputed[:, ~bottom_half], X[:, ~bottom_half])
    assert np.all((X_imputed >= 0) & (X_imputed <= 1))
    with pytest.raises(ValueError, match="exactly the pattern"):
        reference.transform(X)


def test_forward_flops_match_a_hand_count():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(inputs)  # -> 4x4x4
    x = keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same")(x)  # -> 8x8x2
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)

    conv = 2 * (4 * 4 * 4) * (3 * 3 * 1)  # per output value: 3x3x1 multiply-adds
    transposed = 2 * (4 * 4 * 4) * (3 * 3 * 2)  # per input value: scattered to 3x3x2
    dense = 2 * (8 * 8 * 2) * 3
    assert forward_flops(model) == conv + transposed + dense


@pytest.mark.parametrize("sizes", [FULL, SMOKE], ids=["FULL", "SMOKE"])
def test_hand_written_vae_has_the_skvae_architecture(sizes):
    network = NetworkStructure(
        sizes.latent_dim,
        architecture="conv",
        conv_filters=sizes.conv_filters,
        conv_kernels=(3,) * len(sizes.conv_filters),
        conv_strides=sizes.conv_strides,
    )
    encoder = build_encoder((28, 28, 1), network)
    decoder = build_decoder((28, 28, 1), network, output_activation="sigmoid")
    hand_written = build_hand_written_vae(sizes, 28)

    for ours, theirs in [(encoder, hand_written.encoder), (decoder, hand_written.decoder)]:
        assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
        assert ours.output_shape == theirs.output_shape


def test_peak_sampler_sees_an_anonymous_allocation():
    sampler = PeakSampler(interval=0.001)
    before = read_status()["RssAnon"]
    sampler.start()
    block = np.ones(64 * MB, dtype=np.uint8)  # touched, so resident
    block.sum()
    del block
    peak = sampler.stop()["RssAnon"]
    assert peak - before > 48 * MB


@pytest.mark.slow
def test_tables_benchmark_smoke_writes_every_number(tmp_path):
    from benchmarks import tables

    out = tmp_path / "tables.json"

    tables.main(["--smoke", "--tables", "diabetes", "--out", str(out)])

    results = json.loads(out.read_text())
    assert results["config"]["tables"] == ["diabetes"]
    assert {row["model"] for row in results["density"]} == {"VAE", "FA", "PCA"}
    assert {row["k"] for row in results["density"]} == {2, 5}
    assert {row["imputer"] for row in results["imputation"]} == set(tables.IMPUTERS)
    assert {row["rate"] for row in results["imputation"]} == {0.2, 0.5}
    for row in results["density"]:
        assert all(math.isfinite(row[key]) for key in ("score", "mse", "fit_s")), row
    for row in results["imputation"]:
        assert math.isfinite(row["mse"]) and row["mse"] > 0 and row["fit_s"] > 0, row
    assert len(results["bars"]["density"]) == 2 and len(results["bars"]["imputation"]) == 2
    for bar in results["bars"]["imputation"]:
        assert math.isfinite(bar["bar"]) and isinstance(bar["met"], bool), bar


def test_tables_benchmark_runs_the_density_part_alone(tmp_path):
    from benchmarks import tables

    out = tmp_path / "density.json"
    tables.main(["--smoke", "--tables", "wine", "--parts", "density", "--out", str(out)])

    results = json.loads(out.read_text())
    assert results["config"]["parts"] == ["density"]
    assert results["imputation"] == [] and results["bars"]["imputation"] == []
    assert {row["model"] for row in results["density"]} == {"VAE", "FA", "PCA"}
    assert len(results["bars"]["density"]) == 2


def test_tables_benchmark_can_skip_the_slow_imputers():
    from benchmarks import tables

    kept = tables.imputers(0, {}, smoke=True, skip=("missForest", "SimpleImputer"))
    assert set(kept) == {"VAEImputer", "KNNImputer", "IterativeImputer"}
    summary = {"KNNImputer": {"mse_mean": 0.5}}
    assert tables._mean(summary, "KNNImputer", "mse", 3) == "0.500"
    assert tables._mean(summary, "missForest", "mse", 3) == "-"


def test_tuning_benchmark_gives_halving_the_default_fits_step_budget():
    from benchmarks.tuning import default_passes
    from skvae import VariationalAutoencoder
    from skvae._training import AUTO_EPOCHS_COMPLETE_IMAGES, MIN_STEPS_PER_EPOCH

    vae = VariationalAutoencoder()  # 10% held out, batches of 32
    # 3,600 rows train: 113 steps a pass, so an auto epoch is MIN_STEPS_PER_EPOCH steps.
    expected = AUTO_EPOCHS_COMPLETE_IMAGES * MIN_STEPS_PER_EPOCH // 113
    assert default_passes(4000, vae) == expected
    # A pass longer than MIN_STEPS_PER_EPOCH is the auto epoch itself.
    assert default_passes(40_000, vae) == AUTO_EPOCHS_COMPLETE_IMAGES


@pytest.mark.slow
def test_convergence_benchmark_brackets_the_default_fit_with_the_yardstick(
    tiny_mnist_dir, tmp_path
):
    from benchmarks import convergence

    out = tmp_path / "convergence.json"
    small = json.dumps({"conv_filters": [4], "conv_strides": [2], "epochs": 1})
    data = ["--data", str(tiny_mnist_dir), "--n-samples", "200"]
    convergence.main([*data, "--seeds", "0", "--params", small, "--out", str(out)])

    (row,) = json.loads(out.read_text())["rows"]
    before, after = row["one_epoch_fit_s"]
    assert before > 0 and after > 0
    assert row["time_ratio"] == pytest.approx(row["fit_s"] / ((before + after) / 2), rel=0.02)
    assert row["cpu_time_ratio"] > 0 and row["epochs_run"] == 1
    assert math.isfinite(row["mse_ratio_to_pca"]) and math.isfinite(row["score_minus_ppca"])


@pytest.mark.slow
def test_convergence_benchmark_fits_flat_rows_as_a_wide_table(tiny_mnist_dir, tmp_path):
    from benchmarks import convergence

    out = tmp_path / "flat.json"
    data = ["--data", str(tiny_mnist_dir), "--n-samples", "200", "--seeds", "0", "--flat"]
    convergence.main([*data, "--params", json.dumps({"epochs": 1}), "--out", str(out)])

    results = json.loads(out.read_text())
    (row,) = results["rows"]
    assert results["flat"] is True
    # 784 columns: a wide numeric table's one Gaussian variance.
    assert (row["likelihood"], row["noise_scale"]) == ("gaussian", "shared")
    assert row["fit_cpu_s"] > 0 and row["epochs_run"] == 1
    assert math.isfinite(row["mse_ratio_to_pca"]) and math.isfinite(row["score_minus_ppca"])


@pytest.mark.slow
def test_convergence_benchmark_short_fits_cover_every_objective_batch_and_schedule(
    tiny_mnist_dir, tmp_path
):
    from benchmarks import convergence

    out = tmp_path / "short.json"
    small = json.dumps({"conv_filters": [4], "conv_strides": [2]})
    data = ["--data", str(tiny_mnist_dir), "--n-samples", "200", "--seeds", "0"]
    convergence.main(
        [*data, "--short-fits", "--short-fit-epochs", "1", "--params", small, "--out", str(out)]
    )

    rows = json.loads(out.read_text())["rows"]
    settings = {(row["alpha"], row["batch_size"], row["schedule"]) for row in rows}
    assert len(rows) == len(settings) == 3 * 2 * 2
    assert {row["epochs"] for row in rows} == {1}
    for row in rows:
        assert row["mse"] > 0 and row["mse_ratio_to_mean_image"] > 0
        assert math.isfinite(row["final_kl"]) and row["fit_s"] > 0


@pytest.mark.slow
def test_gpu_script_runs_end_to_end_on_the_cpu(tmp_path):
    # The GPU machines have JAX and PyTorch; neither is a dependency here.
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    out = tmp_path / "gpu.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu", "--cpu", "--out", str(out)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    results = json.loads(out.read_text())
    for name in ("skvae_jax", "torch_eager", "torch_compile"):
        assert results[name]["fit_images_per_s_batch_512"] > 0, name
    assert "| fit, images/s | 128 |" in result.stdout
