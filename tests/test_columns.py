"""Mixed tables: column types, DataFrames in and out, and every bad input refused by name."""

import io
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import skvae
from skvae import VAEImputer, VariationalAutoencoder
from skvae._columns import (
    CATEGORICAL,
    MAX_CATEGORIES,
    ORDINAL,
    REAL,
    _nearest_integers,
    infer_columns,
)


def mixed_table(n=240, seed=0):
    """A table driven by one latent factor ``z``: two real columns and four categorical ones.

    ``colour`` and ``flag`` are functions of ``z``, so a 1-D latent space
    reconstructs them; ``size`` is an ordered category (ordinal), ``name`` strings.
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    colour = np.where(z > 0.6, "red", np.where(z < -0.6, "blue", "green"))
    return pd.DataFrame(
        {
            "x": z + 0.1 * rng.normal(size=n),
            "colour": pd.Categorical(colour, categories=["red", "green", "blue", "unused"]),
            "flag": z > 0,
            "size": pd.Categorical(
                np.where(z > 0, "large", "small"), categories=["small", "large"], ordered=True
            ),
            "name": pd.Series(np.where(z > 0, "a", "b"), dtype=object),
            "y": (2 * z + 0.3 * rng.normal(size=n)).astype(np.float32),
        }
    )


def through_a_model_file(estimator):
    """``estimator`` saved to a ``.skvae`` file in memory and loaded back."""
    buffer = io.BytesIO()
    skvae.save(estimator, buffer)
    return skvae.load(io.BytesIO(buffer.getvalue()))


TABLE = mixed_table()


@pytest.fixture(scope="module")
def fitted():
    # Early stopping ends this small fit on a plateau before the three-way
    # colour is learned; a fixed number of epochs learns every column.
    return VariationalAutoencoder(
        latent_dim=1, epochs=150, early_stopping=False, random_state=0
    ).fit(TABLE)


# Column types -----------------------------------------------------------------


def test_types_are_inferred_from_dtypes():
    columns = infer_columns(TABLE, None)
    kinds = {column.name: column.kind for column in columns.columns}
    assert kinds == {
        "x": REAL,
        "colour": CATEGORICAL,
        "flag": CATEGORICAL,
        "size": ORDINAL,
        "name": CATEGORICAL,
        "y": REAL,
    }
    by_name = {column.name: column for column in columns.columns}
    # A category dtype keeps its own categories, in order, unobserved ones too.
    assert by_name["colour"].categories == ("red", "green", "blue", "unused")
    assert by_name["flag"].categories == (False, True)
    assert by_name["name"].categories == ("a", "b")
    assert by_name["size"].ordered
    assert columns.n_features == 2 + 4 + 2 + 2 + 2


def test_integers_are_real_unless_column_types_says_otherwise():
    frame = pd.DataFrame({"count": [0, 1, 2, 3] * 5, "x": np.linspace(0, 1, 20)})
    assert infer_columns(frame, None) is None  # all real: the numeric path
    for key in ("count", 0):
        columns = infer_columns(frame, {key: "categorical"})
        assert [column.kind for column in columns.columns] == [CATEGORICAL, REAL]
        assert columns.columns[0].categories == (0, 1, 2, 3)


def test_numeric_data_take_the_numeric_path():
    assert infer_columns(np.zeros((3, 2)), None) is None
    assert infer_columns(pd.DataFrame({"a": [1.0, 2.0]}), None) is None


@pytest.mark.parametrize(
    "frame, column_types, message",
    [
        (TABLE, {"nope": "real"}, r"column_types names column 'nope', which X does not have"),
        (TABLE, {9: "real"}, r"column_types names column position 9, but X has 6 columns"),
        (
            TABLE,
            {"x": "interval"},
            r"column_types\['x'\] must be one of \['real', 'positive', 'count', "
            r"'categorical', 'ordinal'\]",
        ),
        (TABLE, {"x": "real", 0: "categorical"}, r"names column 'x' twice"),
        (np.zeros((4, 2)), {0: "categorical"}, r"types the columns of a pandas DataFrame"),
        (TABLE, {"name": "real"}, r"column 'name' of X must be numeric \(it is real\)"),
        (
            TABLE.assign(one=pd.Categorical(["q"] * len(TABLE))),
            None,
            r"categorical column 'one' has 1 distinct value\(s\)",
        ),
        (
            pd.DataFrame({"id": [f"row{i}" for i in range(MAX_CATEGORIES + 1)]}),
            None,
            rf"categorical column 'id' has {MAX_CATEGORIES + 1} categories, more than",
        ),
        (
            pd.DataFrame({"mixed": pd.Series(["a", 1, "b", 2.5], dtype=object)}),
            None,
            r"column 'mixed' mixes Python types \(float, int, str\)",
        ),
        (
            pd.DataFrame({"mixed": pd.Categorical(["a", 1, "b", 1])}),
            None,
            r"column 'mixed' mixes Python types \(int, str\)",
        ),
        (
            pd.DataFrame({"when": pd.date_range("2020", periods=3), "c": ["a", "b", "a"]}),
            None,
            r"column 'when' has dtype datetime64.*which has no column type",
        ),
    ],
)
def test_bad_columns_are_refused_by_name(frame, column_types, message):
    with pytest.raises(ValueError, match=message):
        infer_columns(frame, column_types)


def test_values_that_cannot_be_categories_are_refused_by_name():
    # Lists are unhashable, tuples of mixed types unordered: a clear error
    # at fit, and an unseen category at transform, never a bare TypeError.
    for values in ([[0], [1]] * 10, [(1, "a"), ("b", 2)] * 10):
        frame = pd.DataFrame({"x": np.arange(20.0), "tags": values})
        with pytest.raises(TypeError, match=r"column 'tags' holds (list|tuple) values"):
            infer_columns(frame, None)
    vae = VariationalAutoencoder(latent_dim=1, epochs=1, random_state=0).fit(TABLE)
    listed = TABLE.head(2).astype({"name": object})
    listed["name"] = [["a"], "b"]
    with pytest.raises(ValueError, match=r"column 'name' of X has the category \['a'\]"):
        vae.transform(listed)
    ignoring = clone(vae).set_params(handle_unknown="ignore").fit(TABLE)
    assert np.isfinite(ignoring.transform(listed)).all()


def test_columns_are_checked_by_name_whatever_their_labels():
    # scikit-learn checks string column names only; the columns of a mixed
    # table are read by position, so integer labels are checked here.
    table = TABLE.set_axis(range(TABLE.shape[1]), axis=1)
    vae = VariationalAutoencoder(latent_dim=1, epochs=1, random_state=0).fit(table)
    for moved in (table[[1, 0, 2, 3, 4, 5]], table.set_axis(range(1, 7), axis=1)):
        with pytest.raises(ValueError, match=r"X has the columns \[.*\], but this estimator"):
            vae.transform(moved)


def test_encoding_is_one_hot_with_missing_entries_as_nan_and_decodes_back():
    frame = TABLE.head(6).copy()
    frame["name"] = frame["name"].astype(object)
    frame.loc[1, "name"] = None
    frame.loc[2, "colour"] = np.nan
    frame["flag"] = frame["flag"].astype("boolean")
    frame.loc[3, "flag"] = pd.NA
    columns = infer_columns(TABLE.assign(flag=TABLE["flag"].astype("boolean")), None)
    features = columns.encode(frame, allow_missing=True)
    # Real columns first, standardized by their mean and deviation at fit,
    # then each categorical column's categories, then the ordinal's.
    x = TABLE["x"].to_numpy()
    np.testing.assert_allclose(features[:, 0], (frame["x"] - x.mean()) / x.std())
    colour = features[:, 2:6]
    assert np.isnan(colour[2]).all()
    np.testing.assert_array_equal(np.nansum(colour, axis=1), [1, 1, 0, 1, 1, 1])
    assert np.isnan(features[3, 6:8]).all() and np.isnan(features[1, 8:10]).all()
    complete = TABLE.head(6).assign(flag=TABLE["flag"].head(6).astype("boolean"))
    decoded = columns.decode(columns.encode(complete, allow_missing=False))
    pd.testing.assert_frame_equal(decoded, complete, check_dtype=True, check_exact=False)


def test_complete_rows_are_required_outside_the_imputer():
    frame = TABLE.head(5).copy()
    frame.loc[0, "name"] = None
    with pytest.raises(ValueError, match=r"X has missing entries \(in columns name\)"):
        infer_columns(TABLE, None).encode(frame, allow_missing=False)


# The estimator on a mixed table ----------------------------------------------------


def test_transform_gives_the_latent_means(fitted):
    Z = fitted.transform(TABLE)
    assert Z.shape == (len(TABLE), 1) and Z.dtype == np.float64
    assert fitted.n_features_in_ == 6
    assert list(fitted.feature_names_in_) == list(TABLE.columns)
    # A mixed table's real columns learn Student's t noise, as a numeric table's.
    assert fitted.likelihood_ == "student_t" and fitted.noise_scale_ == "feature"


def test_inverse_transform_and_sample_give_back_the_columns_and_their_dtypes(fitted):
    for decoded in (fitted.inverse_transform(fitted.transform(TABLE)), fitted.sample(50, 0)):
        assert isinstance(decoded, pd.DataFrame)
        assert list(decoded.columns) == list(TABLE.columns)
        pd.testing.assert_series_equal(decoded.dtypes, TABLE.dtypes)
        for name in ("colour", "size"):
            assert decoded[name].dtype == TABLE[name].dtype  # categories and order
        assert set(decoded["name"]) <= {"a", "b"}


def test_sample_draws_categories_with_their_probabilities():
    # A coin independent of everything else: the most probable side of every
    # row is heads, so a synthetic table needs draws to keep its tails.
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {"x": rng.normal(size=400), "coin": np.where(rng.random(400) < 0.3, "tails", "heads")}
    )
    vae = VariationalAutoencoder(
        latent_dim=1, epochs=60, early_stopping=False, random_state=0
    ).fit(table)
    synthetic = vae.sample(2000, random_state=0)
    assert 0.2 < (synthetic["coin"] == "tails").mean() < 0.4
    # The real column keeps its spread (drawn with the decoder's noise).
    assert 0.7 < synthetic["x"].std() < 1.3
    modes = vae.sample(2000, random_state=0, noise=False)
    pd.testing.assert_frame_equal(
        modes, vae.inverse_transform(np.random.RandomState(0).standard_normal((2000, 1)))
    )


def test_categories_driven_by_the_latent_factor_are_reconstructed(fitted):
    decoded = fitted.inverse_transform(fitted.transform(TABLE))
    for name in ("colour", "flag", "size", "name"):
        assert (decoded[name] == TABLE[name]).mean() > 0.85, name
    assert np.corrcoef(decoded["x"], TABLE["x"])[0, 1] > 0.9


def test_score_samples_sums_densities_and_masses(fitted):
    scores = fitted.score_samples(TABLE)
    assert scores.shape == (len(TABLE),) and np.isfinite(scores).all()
    # A row whose categories contradict its real values is less likely.
    contradicted = TABLE.head(20).copy()
    contradicted["flag"] = ~contradicted["flag"]
    contradicted["name"] = contradicted["name"].map({"a": "b", "b": "a"})
    assert np.mean(fitted.score_samples(contradicted)) < np.mean(scores[:20]) - 1.0


def test_pickling_keeps_a_mixed_model(fitted):
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(TABLE), fitted.transform(TABLE))
    pd.testing.assert_frame_equal(restored.sample(5, 0), fitted.sample(5, 0))


@pytest.mark.parametrize(
    "change, error, message",
    [
        (
            lambda t: t.assign(name=t["name"].replace("a", "zebra")),
            ValueError,
            r"column 'name' of X has the category 'zebra', which was not seen at fit",
        ),
        (
            lambda t: t.assign(x=t["x"].astype(str)),
            ValueError,
            r"column 'x' of X must be numeric \(it is real\)",
        ),
        (
            lambda t: t.rename(columns={"x": "w"}),
            ValueError,
            r"feature names",
        ),
        (lambda t: t.to_numpy(), ValueError, r"X must be a DataFrame with the same columns"),
    ],
)
def test_bad_input_after_fit_is_refused_by_name(fitted, change, error, message):
    with pytest.raises(error, match=message):
        fitted.transform(change(TABLE))


# The imputer on a mixed table -----------------------------------------------------


def with_missing(table, fraction=0.15, seed=1):
    """``table`` with entries missing at random, each type with its own marker."""
    rng = np.random.default_rng(seed)
    table = table.assign(flag=table["flag"].astype("boolean"))
    markers = {"x": np.nan, "colour": np.nan, "flag": pd.NA, "name": None, "size": np.nan}
    for name, marker in markers.items():
        table.loc[rng.random(len(table)) < fraction, name] = marker
    return table


INCOMPLETE = with_missing(TABLE)


@pytest.fixture(scope="module")
def imputer():
    return VAEImputer(latent_dim=2, epochs=40, random_state=0).fit(INCOMPLETE)


def test_the_imputer_fills_every_type_and_keeps_what_is_observed(imputer):
    completed = imputer.transform(INCOMPLETE)
    assert isinstance(completed, pd.DataFrame)
    assert not completed.isna().any().any()
    pd.testing.assert_index_equal(completed.index, INCOMPLETE.index)
    pd.testing.assert_series_equal(completed.dtypes, INCOMPLETE.dtypes)
    observed = INCOMPLETE.notna()
    for name in INCOMPLETE.columns:
        kept = observed[name].to_numpy()
        np.testing.assert_array_equal(
            completed[name].to_numpy()[kept], INCOMPLETE[name].to_numpy()[kept], err_msg=name
        )
    # Categories driven by the latent factor are imputed from the observed columns.
    for name in ("flag", "name"):
        missing = ~observed[name].to_numpy()
        assert (completed[name][missing] == TABLE[name][missing]).mean() > 0.8, name


def test_set_output_pandas_keeps_the_columns_and_dtypes(imputer):
    completed = clone_fitted(imputer).set_output(transform="pandas").transform(INCOMPLETE)
    assert list(completed.columns) == list(INCOMPLETE.columns)
    pd.testing.assert_series_equal(completed.dtypes, INCOMPLETE.dtypes)
    assert list(imputer.get_feature_names_out()) == list(INCOMPLETE.columns)


def clone_fitted(estimator):
    return pickle.loads(pickle.dumps(estimator))


def test_sample_posterior_draws_valid_categories(imputer):
    drawer = clone_fitted(imputer).set_params(sample_posterior=True)
    drawn = drawer.transform(INCOMPLETE)
    pd.testing.assert_series_equal(drawn.dtypes, INCOMPLETE.dtypes)
    assert not drawn.isna().any().any()
    assert set(drawn["colour"]) <= set(TABLE["colour"].cat.categories)
    # Draws, not the most probable values: some imputed entries differ from them.
    mode = imputer.transform(INCOMPLETE)
    missing = INCOMPLETE[["x", "colour", "name"]].isna().to_numpy()
    assert (drawn[["x", "colour", "name"]].to_numpy() != mode[["x", "colour", "name"]].to_numpy())[
        missing
    ].any()


@pytest.mark.parametrize("sample_posterior", [False, True])
def test_imputed_categories_are_categories_seen_at_fit(imputer, sample_posterior):
    completed = clone_fitted(imputer).set_params(sample_posterior=sample_posterior)
    completed = completed.transform(INCOMPLETE)
    # One column of each categorical dtype: category, ordered category, boolean, object.
    for name, categories in {
        "colour": {"red", "green", "blue", "unused"},
        "size": {"small", "large"},
        "flag": {False, True},
        "name": {"a", "b"},
    }.items():
        missing = INCOMPLETE[name].isna().to_numpy()
        assert missing.any(), name
        assert set(completed[name][missing]) <= categories, name


def test_a_mixed_imputer_round_trips_through_a_model_file(imputer):
    loaded = through_a_model_file(imputer)
    pd.testing.assert_frame_equal(loaded.transform(INCOMPLETE), imputer.transform(INCOMPLETE))


def known_mixture(n, seed):
    """Three equally likely classes ``c`` with 2-D Gaussian features around their means.

    Returns the table, the Bayes classifier's guess of ``c`` from the features
    (the most probable class under the true model) and ``c``.
    """
    from scipy import stats

    rng = np.random.default_rng(seed)
    c = rng.integers(0, 3, size=n)
    means = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])
    x = means[c] + rng.normal(size=(n, 2))
    log_posterior = np.stack([stats.multivariate_normal(m).logpdf(x) for m in means], axis=1)
    table = pd.DataFrame(
        {"a": x[:, 0], "b": x[:, 1], "c": pd.Categorical(np.array(["p", "q", "r"])[c])}
    )
    return table, log_posterior.argmax(axis=1), c


def test_the_imputed_category_approaches_the_bayes_rate():
    train, _, _ = known_mixture(1500, 0)
    train.loc[np.random.default_rng(2).random(1500) < 0.2, "c"] = np.nan
    test, bayes, c = known_mixture(1000, 1)
    test["c"] = np.nan
    imputed = VAEImputer(latent_dim=2, epochs=30, random_state=0).fit(train).transform(test)
    bayes_rate = (bayes != c).mean()
    error = (imputed["c"].cat.codes.to_numpy() != c).mean()
    assert 0.25 < bayes_rate < 0.4  # a problem where the features leave real doubt
    assert error < bayes_rate + 0.05


@pytest.mark.parametrize(
    "params, table, message",
    [
        (dict(missing_values=-1.0), INCOMPLETE, r"leave missing_values=np.nan"),
        (dict(add_indicator=True), INCOMPLETE, r"add_indicator=True is not available"),
        (dict(), INCOMPLETE.assign(x=np.nan), r"column\(s\) x of X have no observed value"),
    ],
)
def test_the_imputer_refuses_what_a_mixed_table_cannot_take(params, table, message):
    with pytest.raises(ValueError, match=message):
        VAEImputer(epochs=1, **params).fit(table)


def test_a_mixed_model_round_trips_through_a_model_file(fitted):
    # The file's own checks are in test_model_file.py.
    loaded = through_a_model_file(fitted)
    pd.testing.assert_frame_equal(loaded.sample(20, 0), fitted.sample(20, 0))
    pd.testing.assert_series_equal(loaded.sample(5, 0).dtypes, TABLE.dtypes)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(alpha=10.0), r"alpha='auto'"),
        (dict(output_activation="sigmoid"), r"needs a linear output"),
        (dict(likelihood="bernoulli"), r"real columns of a table with categorical columns"),
        (dict(image_shape=(2, 3)), r"is a table, not images"),
    ],
)
def test_settings_a_mixed_table_cannot_take_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        VariationalAutoencoder(epochs=1, **params).fit(TABLE)


def test_onnx_refuses_a_mixed_model(fitted):
    onnx = pytest.importorskip("skvae.onnx")
    with pytest.raises(ValueError, match=r"categorical columns cannot be converted to ONNX"):
        onnx.to_onnx(fitted)


# The categorical columns' weight in training ---------------------------------------


def factor_and_kind(n, seed):
    """Six real columns driven by one strong factor, and a category that shifts them slightly.

    ``kind`` moves the first three columns up and the last three down by
    0.3, ten times less than the factor's spread: a one-dimensional code of
    the ELBO keeps the factor, and the category left out of it is imputed at
    chance, although the columns tell it almost surely.
    """
    rng = np.random.default_rng(seed)
    factor, kind = rng.normal(size=n), rng.integers(0, 2, size=n)
    contrast = np.array([1, 1, 1, -1, -1, -1])
    X = factor[:, None] + 0.3 * (2 * kind[:, None] - 1) * contrast
    X = X + 0.1 * rng.normal(size=(n, 6))
    table = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    return table.assign(kind=pd.Categorical(np.array(["p", "q"])[kind]))


def test_a_heavier_categorical_weight_keeps_a_category_in_the_code():
    train, test = factor_and_kind(600, 0), factor_and_kind(300, 1)
    train.loc[np.random.default_rng(2).random(600) < 0.2, "kind"] = np.nan
    errors = {}
    for weight in (1.0, 10.0):
        imputer = VAEImputer(latent_dim=1, epochs=30, categorical_weight=weight, random_state=0)
        imputed = imputer.fit(train).transform(test.assign(kind=np.nan))
        errors[weight] = (imputed["kind"] != test["kind"]).mean()
    assert errors[1.0] > 0.35 and errors[10.0] < 0.2, errors


@pytest.mark.parametrize("warm_start", [True, False])
def test_a_continued_fit_refuses_changed_column_types_and_handle_unknown(warm_start):
    # The columns' types decide the network's features and likelihood, and
    # handle_unknown is fitted with the categories: a continued fit trains
    # the fitted network, so it refuses a change rather than ignore it.
    vae = VariationalAutoencoder(latent_dim=1, epochs=1, warm_start=warm_start, random_state=0)

    def continued(X=TABLE):
        return vae.fit(X) if warm_start else vae.partial_fit(X)

    continued()
    vae.set_params(column_types={1: "categorical"})  # colour's own type, named by position
    continued()
    codes = vae.transform(TABLE)
    for change, message in (
        ({"column_types": {"x": "count"}}, r"column_types=.* built for"),
        ({"column_types": {"size": "categorical"}}, r"column_types=.* built for"),
        ({"handle_unknown": "ignore"}, "handle_unknown changed from 'error' to 'ignore'"),
    ):
        vae.set_params(**change)
        with pytest.raises(ValueError, match=message):
            continued()
        vae.set_params(column_types={1: "categorical"}, handle_unknown="error")
        np.testing.assert_array_equal(vae.transform(TABLE), codes)
    vae = VariationalAutoencoder(latent_dim=1, epochs=1, warm_start=warm_start, random_state=0)
    continued(TABLE[["x", "y"]])
    vae.set_params(column_types={"x": "positive"})
    with pytest.raises(ValueError, match=r"column_types=.* built for real"):
        continued(TABLE[["x", "y"]])
    with pytest.raises(ValueError, match="but X is a ndarray"):
        continued(TABLE[["x", "y"]].to_numpy())


def test_the_categorical_weight_reaches_every_fit_and_never_the_score():
    vae = VariationalAutoencoder(
        latent_dim=1, epochs=2, warm_start=True, categorical_weight=3.0, random_state=0
    ).fit(TABLE)
    assert float(vae._trainer.categorical_weight.numpy()) == 3.0
    scores = vae.score_samples(TABLE)
    # A fitted model scores its likelihood, whatever the next fit will weigh.
    vae.set_params(categorical_weight=0.5)
    np.testing.assert_array_equal(vae.score_samples(TABLE), scores)
    # The continued fit trains its existing trainer on the new weight.
    trainer = vae._trainer
    vae.fit(TABLE)
    assert vae._trainer is trainer and float(trainer.categorical_weight.numpy()) == 0.5
    # The weight changes what a mixed table trains, and nothing of numeric data.
    for data, changes in ((TABLE, True), (TABLE[["x", "y"]], False)):
        codes = [
            VariationalAutoencoder(epochs=2, categorical_weight=weight, random_state=0)
            .fit(data)
            .transform(data)
            for weight in (1.0, 3.0)
        ]
        assert np.array_equal(*codes) != changes


# Count columns -------------------------------------------------------------------


def count_table(n=240, seed=0):
    """A latent factor ``z`` drives a real column, a Poisson count and a category."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": z + 0.1 * rng.normal(size=n),
            "visits": rng.poisson(np.exp(1.0 + z)),
            "kind": np.where(z > 0, "u", "v"),
        }
    )


COUNTS = count_table()


def test_a_count_column_is_only_ever_named():
    assert infer_columns(COUNTS[["x", "visits"]], None) is None  # integers are real
    columns = infer_columns(COUNTS[["x", "visits"]], {"visits": "count"})
    assert [column.kind for column in columns.columns] == [REAL, "count"]


@pytest.mark.parametrize(
    "values, message",
    [
        ([1, -2, 3], r"column 'visits' of X is a count column, but holds -2.0; counts are"),
        ([1.0, 2.5, 3.0], r"column 'visits' of X is a count column, but holds 2.5"),
        (["1", "2", "3"], r"column 'visits' of X must be numeric \(it is count\)"),
    ],
)
def test_bad_counts_are_refused_by_name(values, message):
    frame = pd.DataFrame({"visits": values})
    with pytest.raises(ValueError, match=message):
        infer_columns(frame, {"visits": "count"})


def test_counts_are_modelled_and_decoded_as_integers():
    vae = VariationalAutoencoder(
        latent_dim=1, epochs=60, early_stopping=False, random_state=0, column_types={1: "count"}
    ).fit(COUNTS)
    decoded = vae.inverse_transform(vae.transform(COUNTS))
    pd.testing.assert_series_equal(decoded.dtypes, COUNTS.dtypes)
    assert (decoded["visits"] >= 0).all()
    assert np.corrcoef(decoded["visits"], COUNTS["visits"])[0, 1] > 0.7
    assert np.isfinite(vae.score_samples(COUNTS)).all()
    pd.testing.assert_series_equal(vae.sample(10, 0).dtypes, COUNTS.dtypes)
    with pytest.raises(ValueError, match=r"is a count column, but holds -1.0"):
        vae.transform(COUNTS.assign(visits=-1))
    loaded = through_a_model_file(vae)
    pd.testing.assert_frame_equal(loaded.sample(10, 0), vae.sample(10, 0))


def test_the_imputer_fills_counts_with_counts():
    incomplete = COUNTS.assign(visits=COUNTS["visits"].astype("Int64"))
    incomplete.loc[::5, "visits"] = pd.NA
    imputer = VAEImputer(latent_dim=2, epochs=30, random_state=0, column_types={"visits": "count"})
    completed = imputer.fit(incomplete).transform(incomplete)
    assert completed["visits"].dtype == "Int64" and not completed["visits"].isna().any()
    assert (completed["visits"] >= 0).all()
    kept = incomplete["visits"].notna()
    pd.testing.assert_series_equal(completed["visits"][kept], incomplete["visits"][kept])
    drawn = imputer.set_params(sample_posterior=True).transform(incomplete)
    assert (drawn["visits"] >= 0).all() and drawn["visits"].dtype == "Int64"


# Positive columns ----------------------------------------------------------------


def positive_table(n=240, seed=0):
    """A latent factor ``z`` drives a log-normal column and a category."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    return pd.DataFrame(
        {
            "income": np.exp(1.0 + z + 0.2 * rng.normal(size=n)).astype(np.float32),
            "kind": np.where(z > 0, "u", "v"),
        }
    )


POSITIVES = positive_table()


@pytest.mark.parametrize("value", [0.0, -3.0])
def test_non_positive_values_in_a_positive_column_are_refused(value):
    frame = POSITIVES.assign(income=POSITIVES["income"].where(POSITIVES.index != 4, value))
    with pytest.raises(
        ValueError, match=rf"'income' of X is a positive column, but holds {value}"
    ):
        infer_columns(frame, {"income": "positive"})


def test_positive_columns_are_modelled_on_the_log_scale():
    vae = VariationalAutoencoder(
        latent_dim=1, epochs=60, early_stopping=False, random_state=0
    ).set_params(column_types={"income": "positive"})
    vae.fit(POSITIVES)
    decoded = vae.inverse_transform(vae.transform(POSITIVES))
    pd.testing.assert_series_equal(decoded.dtypes, POSITIVES.dtypes)
    assert (decoded["income"] > 0).all() and (vae.sample(50, 0)["income"] > 0).all()
    log_ratio = np.log(decoded["income"]) - np.log(POSITIVES["income"])
    assert np.abs(log_ratio).mean() < 0.5
    # A density over income itself: the Jacobian alone costs a row scaled by e
    # one nat, and these rows also lie off the fitted distribution.
    scaled = POSITIVES.assign(income=POSITIVES["income"] * np.float32(np.e))
    assert np.mean(vae.score_samples(scaled)) < np.mean(vae.score_samples(POSITIVES)) - 1.0
    loaded = through_a_model_file(vae)
    pd.testing.assert_frame_equal(loaded.sample(10, 0), vae.sample(10, 0))


def test_the_imputer_keeps_observed_positive_values_exactly():
    incomplete = POSITIVES.assign(income=POSITIVES["income"].astype(np.float64))
    incomplete.loc[::5, "income"] = np.nan
    imputer = VAEImputer(
        latent_dim=2, epochs=20, random_state=0, column_types={"income": "positive"}
    ).fit(incomplete)
    for sample_posterior in (False, True):
        completed = imputer.set_params(sample_posterior=sample_posterior).transform(incomplete)
        kept = incomplete["income"].notna()
        np.testing.assert_array_equal(completed["income"][kept], incomplete["income"][kept])
        assert (completed["income"] > 0).all() and completed["income"].dtype == np.float64


# Ordinal columns -----------------------------------------------------------------


def test_an_ordinal_column_learns_its_order():
    rng = np.random.default_rng(0)
    z = rng.normal(size=300)
    levels = ["none", "low", "mid", "high"]
    table = pd.DataFrame(
        {
            "x": z + 0.1 * rng.normal(size=300),
            "grade": pd.Categorical(
                np.array(levels)[np.digitize(z, [-0.8, 0.0, 0.8])], categories=levels, ordered=True
            ),
        }
    )
    vae = VariationalAutoencoder(latent_dim=1, epochs=80, early_stopping=False, random_state=0)
    decoded = vae.fit(table).inverse_transform(vae.transform(table))
    assert decoded["grade"].dtype == table["grade"].dtype
    codes, truth = decoded["grade"].cat.codes, table["grade"].cat.codes
    assert (codes == truth).mean() > 0.8 and np.abs(codes - truth).max() <= 1
    assert infer_columns(table, {"grade": "categorical"}).columns[1].kind == CATEGORICAL


# A category unseen at fit: handle_unknown ----------------------------------------

# "zebra" and "okapi" were never in the column "name" ("a", "b") nor in "colour".
UNKNOWN = TABLE.head(12).assign(
    name=pd.Series(["zebra", "okapi"] * 6, dtype=object),
    colour=pd.Categorical(["red", "violet"] * 6, categories=["red", "violet"]),
)


def test_handle_unknown_ignore_encodes_an_unknown_category_as_a_missing_one():
    columns = infer_columns(TABLE, None, "ignore")
    blocks = {}
    start = columns.n_numeric
    for _, column in columns.of_kind(CATEGORICAL, ORDINAL):
        blocks[column.name] = slice(start, start + column.width)
        start += column.width
    complete = columns.encode(UNKNOWN, allow_missing=False)
    incomplete = columns.encode(UNKNOWN, allow_missing=True)
    # The encoder's reading of a missing category: no 1 in its one-hot.
    assert (complete[:, blocks["name"]] == 0).all()
    assert np.isnan(incomplete[:, blocks["name"]]).all()
    # "violet" (odd rows) is unknown, "red" is not.
    assert (complete[1::2, blocks["colour"]] == 0).all()
    assert (complete[::2, blocks["colour"]].sum(axis=1) == 1).all()
    unknown_colour = np.isnan(incomplete[:, blocks["colour"]]).all(axis=1)
    np.testing.assert_array_equal(unknown_colour, [False, True] * 6)
    with pytest.raises(ValueError, match=r"'violet', which was not seen at fit.*handle_unknown="):
        infer_columns(TABLE, None).encode(UNKNOWN, allow_missing=True)


@pytest.fixture(scope="module")
def ignoring():
    return VariationalAutoencoder(
        latent_dim=1, epochs=20, handle_unknown="ignore", random_state=0
    ).fit(TABLE)


def test_handle_unknown_ignore_transforms_and_scores_from_the_other_columns(ignoring):
    Z = ignoring.transform(UNKNOWN)
    scores = ignoring.score_samples(UNKNOWN)
    assert np.isfinite(Z).all() and np.isfinite(scores).all()
    # Which unknown value a row holds makes no difference: it is not read.
    swapped = UNKNOWN.assign(name=pd.Series(["okapi", "zebra"] * 6, dtype=object))
    np.testing.assert_array_equal(ignoring.transform(swapped), Z)
    np.testing.assert_array_equal(ignoring.score_samples(swapped), scores)
    # Decoding gives only the categories seen at fit.
    decoded = ignoring.inverse_transform(Z)
    assert set(decoded["name"]) <= {"a", "b"}
    assert set(decoded["colour"]) <= set(TABLE["colour"].cat.categories)


def test_handle_unknown_ignore_imputes_an_unknown_category_as_a_missing_one():
    imputer = VAEImputer(epochs=10, handle_unknown="ignore", random_state=0).fit(INCOMPLETE)
    unknown = INCOMPLETE.head(12).assign(name=UNKNOWN["name"])
    missing = INCOMPLETE.head(12).assign(name=pd.Series([None] * 12, dtype=object))
    completed = imputer.transform(unknown)
    pd.testing.assert_frame_equal(completed, imputer.transform(missing))
    assert set(completed["name"]) <= {"a", "b"}  # the unknown value is replaced


def test_set_params_handle_unknown_waits_for_the_next_fit(fitted, ignoring):
    strict = clone_fitted(fitted).set_params(handle_unknown="ignore")
    with pytest.raises(ValueError, match="not seen at fit"):
        strict.transform(UNKNOWN)
    lenient = clone_fitted(ignoring).set_params(handle_unknown="error")
    np.testing.assert_array_equal(lenient.transform(UNKNOWN), ignoring.transform(UNKNOWN))
    with pytest.raises(ValueError, match="not seen at fit"):
        lenient.set_params(epochs=1).fit(TABLE).transform(UNKNOWN)


def test_handle_unknown_round_trips_through_a_model_file(ignoring):
    loaded = through_a_model_file(ignoring)
    assert loaded.handle_unknown == "ignore"
    np.testing.assert_array_equal(loaded.transform(UNKNOWN), ignoring.transform(UNKNOWN))
    # Fixed at fit: a loaded model reads unknown categories as its fit did.
    loaded.set_params(handle_unknown="error")
    np.testing.assert_array_equal(loaded.transform(UNKNOWN), ignoring.transform(UNKNOWN))


def test_handle_unknown_is_validated():
    with pytest.raises(ValueError, match="handle_unknown"):
        VariationalAutoencoder(handle_unknown="infrequent_if_exist").fit(TABLE)


# Real columns in their own units -------------------------------------------------


def in_other_units(table):
    """``table`` with ``x`` in thousandths and ``y`` moved by 10,000: the same information.

    ``y`` moves in float64, which holds ``y + 10,000`` exactly; in float32
    it would be rounded to about 1e-3, a different table, which trains a
    model that differs from the first by more than rounding (on TensorFlow
    by up to 1.4e-3 in ``transform``, on JAX 1.2e-2, over three seeds).
    """
    other = table.copy()
    other["x"] = table["x"] * 1000.0
    other["y"] = table["y"].astype(np.float64) + 1e4
    return other


def test_real_columns_are_standardized_so_their_units_do_not_matter():
    # The network reads each real column standardized by its mean and
    # deviation at fit: the same table in other units trains the same model,
    # and its density changes by the Jacobian alone.
    settings = dict(latent_dim=1, epochs=20, early_stopping=False, random_state=0)
    table = mixed_table(n=120)
    other = in_other_units(table)
    vae = VariationalAutoencoder(**settings).fit(table)
    vae_other = VariationalAutoencoder(**settings).fit(other)
    np.testing.assert_allclose(vae_other.transform(other), vae.transform(table), atol=1e-3)
    # x in thousandths: each row's density is 1000 times smaller. (A row's
    # latent draws are seeded by its values, so rows agree on average only.)
    assert np.mean(vae_other.score_samples(other)) == pytest.approx(
        np.mean(vae.score_samples(table)) - np.log(1000.0), abs=0.05
    )
    decoded = vae.inverse_transform(vae.transform(table))
    decoded_other = vae_other.inverse_transform(vae_other.transform(other))
    np.testing.assert_allclose(decoded_other["x"], decoded["x"] * 1000.0, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(decoded_other["y"], decoded["y"] + 1e4, atol=1e-1)


def test_the_imputer_fills_real_columns_of_very_different_scales():
    # Grams and millimetres, as in a table of penguins: read as they are,
    # the column in grams swamped the network and the fills were off by
    # hundreds of standard deviations.
    table = in_other_units(mixed_table(n=240))
    incomplete = with_missing(table)
    incomplete.loc[np.random.default_rng(2).random(len(table)) < 0.15, "y"] = np.nan
    completed = VAEImputer(latent_dim=2, epochs=40, random_state=0).fit_transform(incomplete)
    for name in ("x", "y"):
        missing = incomplete[name].isna().to_numpy()
        error = completed[name][missing] - table[name][missing]
        assert np.sqrt(np.mean(error**2)) < 0.5 * table[name].std(), name


# Integer columns -------------------------------------------------------------------


def integer_table(n=200, seed=0):
    """A latent factor ``z`` drives integer columns of four dtypes and a category.

    ``level`` (uint8) sits at 0 for a quarter of the rows, so the model's
    noise draws values below 0, which its dtype cannot hold; ``price`` is
    a positive column of integers.
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    return pd.DataFrame(
        {
            "year": (2008 + np.round(z)).astype(np.int64),
            "rooms": pd.array(np.clip(np.round(3 + z), 1, None).astype(int), dtype="Int64"),
            "level": np.clip(np.round(1 + z), 0, 3).astype(np.uint8),
            "price": np.round(np.exp(5 + 0.5 * z + 0.1 * rng.normal(size=n))).astype(np.int32),
            "kind": np.where(z > 0, "u", "v"),
        }
    )


INTEGERS = integer_table()


def test_integer_columns_come_back_as_integers_of_their_dtype():
    # Real and positive columns of an integer dtype are modelled as numbers,
    # and decoded to the nearest integer their dtype holds: a synthetic
    # table keeps its schema, and never wraps a value around its dtype.
    vae = VariationalAutoencoder(
        latent_dim=1, epochs=30, early_stopping=False, random_state=0
    ).set_params(column_types={"price": "positive"})
    vae.fit(INTEGERS)
    decoded = vae.inverse_transform(vae.transform(INTEGERS))
    drawn = vae.sample(500, 0)
    for table in (decoded, drawn):
        pd.testing.assert_series_equal(table.dtypes, INTEGERS.dtypes)
        assert table["level"].max() <= 10 and table["price"].min() >= 1
    assert np.abs(decoded["year"] - INTEGERS["year"]).mean() < 1.0
    assert (drawn["level"] == 0).any()  # the draws below 0, clipped
    loaded = through_a_model_file(vae)
    pd.testing.assert_frame_equal(loaded.sample(20, 0), vae.sample(20, 0))


@pytest.mark.parametrize(
    "dtype, values, expected",
    [
        ("uint8", [-3.2, 0.4, 2.5, 254.6, 300.0], [0, 0, 2, 255, 255]),
        ("int8", [-200.0, -1.5, 1.5, 127.4], [-128, -2, 2, 127]),
        # 2**63 - 1 is no float64: the largest float below it, not a wrap to -2**63.
        ("int64", [1e19, -1e19, 3.7], [2**63 - 1024, -(2**63), 4]),
        ("Int64", [-0.6, 7.49], [-1, 7]),
    ],
)
def test_numbers_become_the_nearest_integers_their_dtype_holds(dtype, values, expected):
    dtype = pd.api.types.pandas_dtype(dtype)
    integers = _nearest_integers(np.array(values), dtype)
    assert integers.dtype == dtype
    assert integers.tolist() == expected


def test_a_positive_integer_column_never_rounds_to_zero():
    integers = _nearest_integers(np.array([0.2, 0.6, 3.4]), np.dtype("int32"), low=1)
    assert integers.tolist() == [1, 1, 3]


def test_the_imputer_fills_integer_columns_with_integers():
    incomplete = INTEGERS.copy()
    incomplete.loc[::4, "rooms"] = pd.NA
    incomplete.loc[1::4, "kind"] = np.nan
    imputer = VAEImputer(latent_dim=2, epochs=20, random_state=0).fit(incomplete)
    for sample_posterior in (False, True):
        completed = imputer.set_params(sample_posterior=sample_posterior).transform(incomplete)
        pd.testing.assert_series_equal(completed.dtypes, incomplete.dtypes)
        assert not completed.isna().any().any()
        kept = incomplete["rooms"].notna()
        pd.testing.assert_series_equal(completed["rooms"][kept], incomplete["rooms"][kept])
        pd.testing.assert_series_equal(completed["year"], incomplete["year"])


def test_the_imputer_returns_the_input_dtypes_and_observed_values_unchanged():
    # pandas cannot hold NaN in an int64 column: rows to impute often come
    # as floats where the fitted column was integers (or the other way).
    # The output keeps the input's dtype and its observed values exactly;
    # imputed entries of a column fitted on integers are still integers.
    imputer = VAEImputer(latent_dim=1, epochs=2, random_state=0).fit(INTEGERS)
    rows = INTEGERS.head(6).astype({"year": "float64", "level": "float64", "price": "float64"})
    rows["rooms"] = rows["rooms"].astype("float64")
    rows.loc[[0, 3], "year"] = [2007.5, 2010.25]
    rows.loc[[1, 4], "year"] = np.nan
    rows.loc[[2, 5], ["level", "price", "rooms"]] = np.nan
    completed = imputer.transform(rows)
    pd.testing.assert_series_equal(completed.dtypes, rows.dtypes)
    observed = rows.notna()
    pd.testing.assert_frame_equal(completed[observed], rows[observed])
    numbers = ["year", "rooms", "level", "price"]
    imputed = completed[numbers].to_numpy()[~observed[numbers].to_numpy()]
    assert imputed.size == 8 and np.array_equal(imputed, np.round(imputed))

    # And an integer input for a column fitted on floats gets integers.
    floats = INTEGERS.astype({"year": "float64"})
    floats.loc[::3, "year"] += 0.5
    imputer = VAEImputer(latent_dim=1, epochs=2, random_state=0).fit(floats)
    rows = INTEGERS.head(6).astype({"year": "Int64"})
    rows.loc[[1, 4], "year"] = pd.NA
    completed = imputer.transform(rows)
    pd.testing.assert_series_equal(completed.dtypes, rows.dtypes)
    pd.testing.assert_series_equal(completed["year"][rows["year"].notna()], rows["year"].dropna())


def test_the_imputer_returns_categorical_columns_in_the_input_dtype():
    # Categories are read by value, so rows to impute may come in another
    # dtype than at fit; the output has the input's, as a numeric column's.
    incomplete = TABLE.copy()
    incomplete.loc[::4, ["colour", "size", "name"]] = np.nan
    imputer = VAEImputer(latent_dim=1, epochs=1, random_state=0).fit(incomplete)
    rows = incomplete.head(24).astype(
        {"colour": object, "name": "category", "flag": "boolean", "size": "string"}
    )
    rows["name"] = rows["name"].cat.set_categories(["b", "a", "unused"])
    completed = imputer.transform(rows)
    pd.testing.assert_series_equal(completed.dtypes, rows.dtypes)
    observed = rows.notna()
    pd.testing.assert_frame_equal(completed[observed], rows[observed])
    assert not completed.isna().any().any()
    # A category dtype that lacks an imputed category gains it, last.
    rows["name"] = pd.Categorical(["a"] * 24, categories=["a"])
    rows.loc[::2, "name"] = np.nan
    completed = imputer.transform(rows)
    assert completed["name"].notna().all() and completed["name"].cat.categories[0] == "a"
    assert set(completed["name"]) <= {"a", "b"}
    # A column of NaN alone is float64, which holds no category: the fitted dtype.
    completed = imputer.transform(rows.assign(name=np.nan, colour=np.nan))
    for name in ("name", "colour"):
        assert completed[name].dtype == TABLE[name].dtype


def test_an_empty_mixed_table_is_refused_as_an_empty_array_is():
    vae = VariationalAutoencoder(latent_dim=1, epochs=1, random_state=0).fit(TABLE)
    for method in (vae.transform, vae.score_samples, vae.score):
        with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
            method(TABLE.iloc[:0])


def test_interpolate_takes_a_mixed_tables_rows():
    vae = VariationalAutoencoder(latent_dim=1, epochs=1, random_state=0).fit(TABLE)
    path = vae.interpolate(TABLE.iloc[0], TABLE.iloc[1], n_steps=3)
    pd.testing.assert_frame_equal(path, vae.interpolate(TABLE.iloc[[0]], TABLE.iloc[[1]], 3))
    pd.testing.assert_series_equal(path.dtypes, TABLE.dtypes)
    with pytest.raises(ValueError, match="x_end must be a DataFrame with the same columns"):
        vae.interpolate(TABLE.iloc[0], TABLE.iloc[1].to_numpy())


@pytest.mark.parametrize(
    "names",
    [pd.Index(np.arange(2)), pd.Index([0.5, 1.5]), pd.Index([True, False], dtype=object)],
    ids=["NumPy integers", "floats", "booleans"],
)
def test_a_mixed_model_file_keeps_any_column_names_fit_takes(names):
    # DataFrame(array, columns=np.arange(k)) names its columns by NumPy
    # integers; floats and booleans are names too. What fit takes, a model
    # file keeps: column names and column_types' keys alike.
    table = TABLE[["x", "colour"]].set_axis(names, axis=1)
    vae = VariationalAutoencoder(latent_dim=1, epochs=1, random_state=0)
    vae.set_params(column_types={names[1]: "categorical"}).fit(table)
    loaded = through_a_model_file(vae)
    assert loaded.column_types == {names[1]: "categorical"}
    np.testing.assert_array_equal(loaded.transform(table), vae.transform(table))
    pd.testing.assert_frame_equal(loaded.sample(5, 0), vae.sample(5, 0))


def test_category_dtypes_keep_their_categories_dtype():
    # pd.concat([table, vae.sample(n)]) keeps a category column only if
    # the dtypes are equal, and a CategoricalDtype's equality includes its
    # categories' dtype: int32 categories (astype("category") of an int32
    # column), object ones where pandas would infer strings, nullable ones.
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "x": rng.normal(size=80),
            "small": pd.Series(rng.integers(1, 4, 80).astype(np.int32)).astype("category"),
            "object": pd.Categorical(
                rng.choice(["a", "b"], 80), categories=pd.Index(["a", "b"], dtype=object)
            ),
            "nullable": pd.Series(rng.choice(["u", "v"], 80), dtype="string").astype("category"),
            "floats": pd.Categorical(rng.choice([0.5, 1.5], 80), ordered=True),
        }
    )
    vae = VariationalAutoencoder(latent_dim=1, epochs=1, random_state=0).fit(table)
    incomplete = table.copy()
    incomplete.iloc[::4, 1:] = np.nan
    imputer = VAEImputer(latent_dim=1, epochs=1, random_state=0).fit(incomplete)
    for output in (
        vae.sample(10, 0),
        vae.inverse_transform(vae.transform(table)),
        through_a_model_file(vae).sample(10, 0),
        imputer.transform(incomplete),
        through_a_model_file(imputer).transform(incomplete),
    ):
        pd.testing.assert_series_equal(output.dtypes, table.dtypes)
        pd.testing.assert_series_equal(pd.concat([table, output]).dtypes, table.dtypes)


def test_pandas_nullable_dtypes_round_trip():
    # DataFrame.convert_dtypes() (or read_csv(dtype_backend="numpy_nullable"))
    # gives Float64, Int64 and string columns: every output keeps them.
    table = mixed_table(n=120).drop(columns=["colour", "size"]).convert_dtypes()
    table["count"] = pd.array(np.arange(len(table)) % 4, dtype="Int64")
    assert str(table["x"].dtype) == "Float64"
    vae = VariationalAutoencoder(latent_dim=1, epochs=2, random_state=0).fit(table)
    for decoded in (vae.inverse_transform(vae.transform(table)), vae.sample(20, 0)):
        pd.testing.assert_series_equal(decoded.dtypes, table.dtypes)
    loaded = through_a_model_file(vae)
    pd.testing.assert_frame_equal(loaded.sample(20, 0), vae.sample(20, 0))

    incomplete = table.copy()
    incomplete.loc[::5, "x"] = pd.NA
    incomplete.loc[1::5, "name"] = pd.NA
    completed = VAEImputer(latent_dim=1, epochs=2, random_state=0).fit_transform(incomplete)
    pd.testing.assert_series_equal(completed.dtypes, incomplete.dtypes)
    assert not completed.isna().any().any()
    kept = incomplete["x"].notna()
    pd.testing.assert_series_equal(completed["x"][kept], incomplete["x"][kept])
