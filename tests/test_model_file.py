"""``skvae.save`` / ``skvae.load``: the pickle-free model file.

Round trips are exact (bit for bit), and every way a file can be damaged or
hostile ends in a ``ValueError`` with nothing executed: see the refusal
table, the payload tests and the seeded fuzz test at the end.
"""

import hashlib
import importlib.util
import io
import json
import math
import pickle
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import skvae
from skvae import VAEImputer, VariationalAutoencoder

TINY = dict(
    epochs=1,
    batch_size=16,
    latent_dim=2,
    conv_filters=(4, 8),
    conv_strides=(1, 2),
    hidden_layer_sizes=(8,),
    validation_fraction=0.2,
)


@pytest.fixture(scope="module")
def images():
    """Forty 8x8 digits in [0, 1], float64, shape (40, 8, 8, 1)."""
    from sklearn.datasets import load_digits

    return load_digits().images[:40, :, :, None] / 16


def _with_missing(X, seed=0, value=np.nan):
    X = X.copy()
    X[np.random.default_rng(seed).random(X.shape) < 0.2] = value
    return X


def _cases(images):
    """(estimator, training data) for each kind of model the file must hold."""
    rows = images.reshape(40, 64)
    table = np.random.default_rng(0).normal(size=(40, 5))
    table_missing = _with_missing(table.astype(np.float32))
    table_missing[:, 3] = np.nan  # a feature never observed
    return {
        "vae-4d-conv-gaussian-f32": (
            VariationalAutoencoder(random_state=0, **TINY),
            images.astype(np.float32),
        ),
        "vae-2d-dense-bernoulli-f64": (
            VariationalAutoencoder(
                likelihood="bernoulli", alpha="auto", architecture="dense", random_state=0, **TINY
            ),
            (rows > 0.5).astype(np.float64),
        ),
        "vae-2d-conv-batchnorm-f64-randomstate": (
            VariationalAutoencoder(
                image_shape=(8, 8), batch_norm=True, random_state=np.random.RandomState(0), **TINY
            ),
            rows,
        ),
        "vae-4d-dense-uint8": (
            VariationalAutoencoder(architecture="dense", random_state=0, **TINY),
            (images * 255).astype(np.uint8),
        ),
        "vae-2d-dense-linear-f64": (VariationalAutoencoder(random_state=0, **TINY), table),
        "imputer-2d-dense-indicator-f32": (
            VAEImputer(add_indicator=True, n_importance_samples=4, random_state=0, **TINY),
            table_missing,
        ),
        "imputer-4d-conv-bernoulli-f64": (
            VAEImputer(likelihood="bernoulli", n_importance_samples=4, random_state=0, **TINY),
            _with_missing(images),
        ),
        "imputer-2d-marker-keep-empty": (
            VAEImputer(
                missing_values=-1.0, keep_empty_features=True, n_importance_samples=4, **TINY
            ),
            np.where(np.isnan(table_missing), -1.0, np.abs(table_missing)),
        ),
    }


@pytest.fixture(scope="module")
def fitted(images):
    """Each case's fitted estimator, its data and its saved file (bytes)."""
    result = {}
    for name, (estimator, X) in _cases(images).items():
        estimator.fit(X)
        result[name] = (estimator, X, _saved(estimator))
    return result


def _saved(estimator):
    buffer = io.BytesIO()
    skvae.save(estimator, buffer)
    return buffer.getvalue()


def _load(data):
    return skvae.load(io.BytesIO(data))


def _results(estimator, X):
    """Every output that must survive the round trip, for float32 and float64 input."""
    out = {}
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)
        if isinstance(estimator, VAEImputer):
            out[f"transform {dtype.__name__}"] = estimator.transform(Xd)
            continue
        Z = estimator.transform(Xd)
        out[f"transform {dtype.__name__}"] = Z
        out[f"inverse_transform {dtype.__name__}"] = estimator.inverse_transform(Z)
        out[f"score_samples {dtype.__name__}"] = estimator.score_samples(Xd)
    if isinstance(estimator, VariationalAutoencoder):
        out["sample"] = estimator.sample(5, random_state=0)
    else:
        out["feature names"] = estimator.get_feature_names_out()
    return out


def _assert_same_results(loaded, original, X):
    expected = _results(original, X)
    for name, value in _results(loaded, X).items():
        assert value.dtype == expected[name].dtype, name
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


def _comparable_params(estimator):
    params = estimator.get_params()
    state = params["random_state"]
    if isinstance(state, np.random.RandomState):
        keys = state.get_state()
        params["random_state"] = (keys[0], keys[1].tolist(), *keys[2:])
    # NaN (the default missing_values) is not equal to itself.
    return {name: "NaN" if value != value else value for name, value in params.items()}


# ------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "case",
    [
        "vae-4d-conv-gaussian-f32",
        "vae-2d-dense-bernoulli-f64",
        "vae-2d-conv-batchnorm-f64-randomstate",
        "vae-4d-dense-uint8",
        "vae-2d-dense-linear-f64",
        "imputer-2d-dense-indicator-f32",
        "imputer-4d-conv-bernoulli-f64",
        "imputer-2d-marker-keep-empty",
    ],
)
def test_round_trip_is_exact(fitted, case):
    original, X, data = fitted[case]
    loaded = _load(data)
    assert type(loaded) is type(original)
    _assert_same_results(loaded, original, X)
    assert _comparable_params(loaded) == _comparable_params(original)
    for attribute in ("n_features_in_", "n_iter_", "_inference_seed", "_layout"):
        assert getattr(loaded, attribute) == getattr(original, attribute), attribute
    np.testing.assert_equal(loaded.history_, original.history_)
    np.testing.assert_array_equal(loaded.decoder_variance_, original.decoder_variance_)
    np.testing.assert_array_equal(loaded.decoder_df_, original.decoder_df_)
    for model in ("encoder_", "decoder_"):
        for got, want in zip(
            getattr(loaded, model).get_weights(),
            getattr(original, model).get_weights(),
            strict=True,
        ):
            np.testing.assert_array_equal(got, want)
    # Everything the file holds is read back: saving again gives the same bytes.
    assert _saved(loaded) == data


def test_imputer_state_round_trips(fitted):
    original, _, data = fitted["imputer-2d-dense-indicator-f32"]
    loaded = _load(data)
    np.testing.assert_array_equal(loaded._empty_features, original._empty_features)
    assert loaded._empty_features.any()  # the case has an empty feature to drop
    np.testing.assert_array_equal(loaded.indicator_.features_, original.indicator_.features_)
    assert repr(loaded.indicator_) == repr(original.indicator_)
    assert loaded.indicator_.get_params().keys() == original.indicator_.get_params().keys()


def test_feature_names_round_trip(images):
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(
        np.random.default_rng(0).random((30, 3)), columns=["height", "width", "depth"]
    )
    vae = VariationalAutoencoder(random_state=0, **TINY).fit(frame)
    loaded = _load(_saved(vae))
    np.testing.assert_array_equal(loaded.feature_names_in_, vae.feature_names_in_)
    np.testing.assert_array_equal(loaded.transform(frame), vae.transform(frame))


def test_loaded_estimator_continues_training_like_an_unpickled_one(fitted):
    original, X, data = fitted["vae-2d-dense-bernoulli-f64"]
    loaded = _load(data).partial_fit(X)
    unpickled = pickle.loads(pickle.dumps(original)).partial_fit(X)
    assert loaded.n_iter_ == original.n_iter_ + 1
    np.testing.assert_equal(loaded.history_, unpickled.history_)
    for got, want in zip(
        loaded.encoder_.get_weights(), unpickled.encoder_.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(got, want)
    # The training moved the weights (the test could fail).
    assert not np.array_equal(loaded.transform(X), original.transform(X))


def test_file_from_before_the_learning_rate_schedule_loads_as_trained(fitted):
    # Files written before learning_rate_schedule existed trained at a constant rate.
    original, X, data = fitted["vae-4d-conv-gaussian-f32"]
    older = _edit_json(lambda document: document["params"].pop("learning_rate_schedule"))(data)
    loaded = _load(older)
    assert original.learning_rate_schedule == "cosine"
    assert loaded.learning_rate_schedule == "constant"
    np.testing.assert_array_equal(loaded.transform(X), original.transform(X))


def test_version_1_conv_file_loads_without_hidden_layers(images):
    # Before format version 2, hidden_layer_sizes sized dense networks only: a
    # conv network read its latent straight off the convolutions.
    X = images.astype(np.float32)
    original = VariationalAutoencoder(random_state=0, **{**TINY, "hidden_layer_sizes": ()}).fit(X)

    def as_version_1(document):
        document["format_version"] = 1
        document["params"]["hidden_layer_sizes"] = [8]
        document["fitted"]["network_parameters"]["hidden_layer_sizes"] = [8]

    loaded = _load(_edit_json(as_version_1)(_saved(original)))
    assert loaded.hidden_layer_sizes == ()
    assert not any("dense" in layer.name for layer in loaded.encoder_.layers)
    np.testing.assert_array_equal(loaded.transform(X), original.transform(X))
    loaded.set_params(warm_start=True).fit(X)  # continues the same network
    assert loaded.n_iter_ == 2


def test_version_1_dense_file_keeps_its_hidden_layers(fitted):
    original, X, data = fitted["vae-2d-dense-linear-f64"]
    loaded = _load(_edit_json(_set("format_version", 1))(data))
    assert loaded.hidden_layer_sizes == original.hidden_layer_sizes == (8,)
    np.testing.assert_array_equal(loaded.transform(X), original.transform(X))


def _hidden_units(network):
    """Units of the Dense layers before the latent heads (encoder) or output."""
    return [layer.units for layer in network.layers if hasattr(layer, "units")]


def test_wide_auto_layers_are_version_4_and_older_files_keep_the_fixed_ones():
    # hidden_layer_sizes="auto" widens a dense network on more than 128
    # columns, from format version 4; in an older file it meant (64,).
    table = np.random.default_rng(0).normal(size=(40, 130))
    wide = VariationalAutoencoder(random_state=0, **{**TINY, "hidden_layer_sizes": "auto"})
    data = _saved(wide.fit(table))
    assert json.loads(_members(data)["skvae.json"])["format_version"] == 4
    loaded = _load(data)
    assert _hidden_units(loaded.encoder_)[:2] == [64, 32]
    np.testing.assert_array_equal(loaded.transform(table), wide.transform(table))

    fixed = VariationalAutoencoder(random_state=0, **{**TINY, "hidden_layer_sizes": (64,)})
    fixed.fit(table)

    def as_version_2_auto(document):
        assert document["format_version"] == 2
        document["params"]["hidden_layer_sizes"] = "auto"
        document["fitted"]["network_parameters"]["hidden_layer_sizes"] = "auto"

    older = _load(_edit_json(as_version_2_auto)(_saved(fixed)))
    assert older.hidden_layer_sizes == "auto"
    assert _hidden_units(older.encoder_)[:1] == [64]
    np.testing.assert_array_equal(older.transform(table), fixed.transform(table))


def test_save_and_load_paths_and_file_objects(fitted, tmp_path):
    original, X, data = fitted["vae-2d-dense-linear-f64"]
    path = tmp_path / "model.skvae"
    skvae.save(original, path)
    assert path.read_bytes() == data
    np.testing.assert_array_equal(skvae.load(str(path)).transform(X), original.transform(X))
    with open(path, "rb") as stream:
        np.testing.assert_array_equal(skvae.load(stream).transform(X), original.transform(X))

    class Unseekable(io.RawIOBase):
        def __init__(self, payload):
            self._stream = io.BytesIO(payload)

        def readable(self):
            return True

        def readinto(self, buffer):
            return self._stream.readinto(buffer)

    loaded = skvae.load(io.BufferedReader(Unseekable(data)))
    np.testing.assert_array_equal(loaded.transform(X), original.transform(X))


def test_file_holds_only_little_endian_arrays_and_plain_json(fitted):
    _, _, data = fitted["imputer-2d-dense-indicator-f32"]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (1980, 1, 1, 0, 0, 0)  # no machine-specific content
            content = archive.read(info)
            if info.filename.endswith(".npy"):
                stream = io.BytesIO(content)
                np.lib.format.read_magic(stream)
                _, _, dtype = np.lib.format.read_array_header_1_0(stream)
                assert dtype.str[0] in "<|" and not dtype.hasobject, info.filename
            else:
                assert info.filename == "skvae.json"
                document = json.loads(content)
    assert document["format"] == "skvae-model" and document["format_version"] == 2
    assert "distribute_strategy" not in document["params"]


def test_save_refuses_what_it_cannot_hold(fitted):
    with pytest.raises(NotFittedError):
        skvae.save(VariationalAutoencoder(), io.BytesIO())
    from sklearn.pipeline import make_pipeline

    original = fitted["vae-2d-dense-linear-f64"][0]
    with pytest.raises(TypeError, match="joblib"):
        skvae.save(make_pipeline(original), io.BytesIO())
    odd = pickle.loads(pickle.dumps(original))
    odd.set_params(hidden_layer_sizes=object())
    with pytest.raises(TypeError, match="hidden_layer_sizes"):
        skvae.save(odd, io.BytesIO())


def test_load_uses_no_deserialiser(fitted, monkeypatch):
    # The checks below hold for the hostile files too; this shows the valid
    # path itself never reaches an unpickler or a Keras config loader.
    import keras

    def forbidden(*args, **kwargs):
        raise AssertionError("load must not call this")

    for owner, name in [
        (pickle, "loads"),
        (pickle, "load"),
        (pickle, "Unpickler"),
        (np, "load"),
        (keras.saving, "load_model"),
        (keras.saving, "deserialize_keras_object"),
        (keras.models, "model_from_json"),
    ]:
        monkeypatch.setattr(owner, name, forbidden)
    original, X, data = fitted["vae-4d-conv-gaussian-f32"]
    np.testing.assert_array_equal(_load(data).transform(X), original.transform(X))


# --------------------------------------------------------------- refusals


def _members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _archive(members, compression=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _npy(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _resign(members):
    """Recompute the checksums, as someone who edits a file on purpose can."""
    try:
        document = json.loads(members["skvae.json"])
        checksums = {
            name: hashlib.sha256(content).hexdigest() for name, content in members.items()
        }
        body = {key: value for key, value in document.items() if key != "checksums"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        checksums["skvae.json"] = hashlib.sha256(canonical.encode()).hexdigest()
        members["skvae.json"] = json.dumps({**document, "checksums": checksums}).encode()
    except (KeyError, ValueError, TypeError, AttributeError):
        pass  # nothing to sign: the edit broke or removed the metadata
    return members


def _edit_members(edit, resign=True):
    """A mutation that edits the members (and, unless told not to, recomputes checksums)."""

    def mutate(data):
        members = _members(data)
        edit(members)
        return _archive(_resign(members) if resign else members)

    return mutate


def _edit_json(edit, resign=True):
    def edit_members(members):
        document = json.loads(members["skvae.json"])
        edit(document)
        members["skvae.json"] = json.dumps(document).encode()

    return _edit_members(edit_members, resign)


def _set(path, value):
    def edit(document):
        *parents, last = path.split(".")
        for key in parents:
            document = document[key]
        document[last] = value

    return edit


def _first_kernel(members):
    """The name of the encoder's first weight matrix or conv kernel."""
    return next(
        name
        for name in sorted(members)
        if name.startswith("encoder/") and np.load(io.BytesIO(members[name])).ndim >= 2
    )


def _replace_weight(transform):
    def edit(members):
        name = _first_kernel(members)
        members[name] = transform(np.load(io.BytesIO(members[name])))

    return _edit_members(edit)


def _patch_central_directory_size(name, size):
    """Make the zip's central directory declare ``size`` bytes for member ``name``."""

    def mutate(data):
        data = bytearray(data)
        start = data.find(b"PK\x01\x02" + data[data.find(b"PK\x01\x02") + 4 : 0])
        offset = data.find(b"PK\x01\x02", start)
        while offset != -1:
            name_length = struct.unpack_from("<H", data, offset + 28)[0]
            if data[offset + 46 : offset + 46 + name_length] == name.encode():
                struct.pack_into("<II", data, offset + 20, size, size)
            offset = data.find(b"PK\x01\x02", offset + 4)
        return bytes(data)

    return mutate


def _deep_list(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


REFUSALS = {
    # The archive.
    "not a zip": (lambda data: b"just some text", "not a zip archive"),
    "empty file": (lambda data: b"", "not a zip archive"),
    "truncated to 90%": (lambda data: data[: len(data) * 9 // 10], "not a zip archive"),
    "truncated at the end": (lambda data: data[:-1], "not a zip archive"),
    "corrupted weight byte": (
        lambda data: data[:900] + bytes([data[900] ^ 0xFF]) + data[901:],
        "corrupted",
    ),
    "weight edited, checksum not": (
        _edit_members(
            lambda m: m.update({"history.npy": m["history.npy"][:-8] + bytes(8)}), False
        ),
        "'history.npy' does not match its checksum",
    ),
    "value edited, checksum not": (
        _edit_json(_set("params.verbose", 1), resign=False),
        "skvae.json does not match its checksum",
    ),
    "checksum not a digest": (
        _edit_json(lambda d: d["checksums"].update({"history.npy": "exec"}), resign=False),
        "SHA-256",
    ),
    # Members.
    "missing weight member": (
        _edit_members(lambda m: m.pop(max(n for n in m if n.startswith("decoder/")))),
        "'decoder/layer[0-9]+_weight1.npy' is missing",
    ),
    "missing metadata": (_edit_members(lambda m: m.pop("skvae.json")), "'skvae.json' is missing"),
    "extra member": (
        _edit_members(lambda m: m.update({"notes.json": b"{}"})),
        "unexpected members \\['notes.json'\\]",
    ),
    "extra weight member": (
        _edit_members(lambda m: m.update({"encoder/layer09_weight0.npy": _npy(np.zeros(3))})),
        "unexpected members",
    ),
    "parent-directory name": (
        _edit_members(lambda m: m.update({"../evil.npy": b""})),
        "path traversal",
    ),
    "absolute name": (
        _edit_members(lambda m: m.update({"/etc/evil.npy": b""})),
        "path traversal",
    ),
    "backslash name": (
        _edit_members(lambda m: m.update({"..\\evil.npy": b""})),
        "path traversal",
    ),
    "odd name": (_edit_members(lambda m: m.update({"model.pkl": b""})), "unexpected member"),
    "compressed member (zip bomb)": (
        lambda data: _archive(
            {**_members(data), "history.npy": b"\0" * 10_000_000}, zipfile.ZIP_DEFLATED
        ),
        "is compressed",
    ),
    "declared size beyond the file": (
        _patch_central_directory_size("history.npy", 2**31),
        "beyond the end of the file",
    ),
    "oversized array member": (
        _edit_members(lambda m: m.update({"history.npy": m["history.npy"] + b"\0" * 100_000})),
        "'history.npy' declares",
    ),
    "oversized metadata": (
        _edit_members(
            lambda m: m.update({"skvae.json": m["skvae.json"] + b" " * 2**24}), resign=False
        ),
        "'skvae.json' declares",
    ),
    # Arrays.
    "weight of the wrong shape": (_replace_weight(lambda w: _npy(w.T.copy())), "expected"),
    "weight of the wrong dtype": (_replace_weight(lambda w: _npy(w.astype("<f8"))), "<f8"),
    "big-endian weight": (_replace_weight(lambda w: _npy(w.astype(">f4"))), ">f4"),
    "Fortran-order weight": (
        _replace_weight(lambda w: _npy(np.asfortranarray(w + np.zeros((1, 1), w.dtype)))),
        "Fortran order",
    ),
    "NaN weight": (_replace_weight(lambda w: _npy(np.full_like(w, np.nan))), "NaN or infinite"),
    "infinite weight": (_replace_weight(lambda w: _npy(np.full_like(w, np.inf))), "NaN or inf"),
    "truncated array data": (_replace_weight(lambda w: _npy(w)[:-4]), "bytes of data"),
    "not an npy": (_replace_weight(lambda w: b"\x93NUMPZ" + b"\0" * 200), "not a .npy"),
    "history with inf": (
        _edit_members(
            lambda m: m.update(
                {"history.npy": _npy(np.load(io.BytesIO(m["history.npy"])) * np.inf)}
            )
        ),
        "infinite",
    ),
    # The JSON.
    "newer format": (_edit_json(_set("format_version", 7)), "newer than the version 6"),
    "other format": (_edit_json(_set("format", "keras")), "does not say format"),
    "unknown estimator": (_edit_json(_set("estimator", "os.system")), "is not one of"),
    "metadata not JSON": (
        _edit_members(lambda m: m.update({"skvae.json": b"\x80\x04K\x01."}), resign=False),
        "not valid JSON",
    ),
    "metadata a list": (
        _edit_members(lambda m: m.update({"skvae.json": b"[]"}), resign=False),
        "must hold a JSON object",
    ),
    "duplicate JSON key": (
        _edit_members(
            lambda m: m.update({"skvae.json": b'{"format": 1, "format": 2}'}), resign=False
        ),
        "repeats a key",
    ),
    "deeply nested JSON": (
        _edit_members(
            lambda m: m.update({"skvae.json": b"[" * 100_000 + b"]" * 100_000}), resign=False
        ),
        "nested",
    ),
    "nested JSON value": (_edit_json(_set("params.verbose", _deep_list(20))), "nested"),
    "huge JSON string": (_edit_json(_set("params.likelihood", "x" * 20_000)), "too long"),
    "extra top-level key": (_edit_json(_set("__reduce__", ["os.system", ["true"]])), "unexpected"),
    "extra parameter": (_edit_json(_set("params.__class__", "Lambda")), "unexpected"),
    "extra fitted entry": (_edit_json(_set("fitted.config", {})), "unexpected"),
    # Parameters and fitted values outside their constraints.
    "latent_dim 0": (_edit_json(_set("params.latent_dim", 0)), "latent_dim"),
    "negative learning rate": (_edit_json(_set("params.learning_rate", -1.0)), "learning_rate"),
    "unknown likelihood": (_edit_json(_set("params.likelihood", "poisson")), "likelihood"),
    "unknown noise scale": (_edit_json(_set("fitted.layout.noise_scale", "row")), "noise_scale"),
    "unregistered likelihood in the layout": (
        _edit_json(_set("fitted.layout.likelihood", "poisson")),
        r"layout.likelihood must be one of \['bernoulli', 'gaussian', 'student_t'\], "
        "got 'poisson'",
    ),
    "unhashable likelihood in the layout": (
        _edit_json(_set("fitted.layout.likelihood", ["gaussian"])),
        "layout.likelihood must be one of",
    ),
    "noise scale unlike the layout's": (
        _edit_json(_set("fitted.network_parameters.noise_scale", "feature")),
        "network_parameters.noise_scale must be 'auto' or equal layout.noise_scale",
    ),
    "fitted network parameter": (
        _edit_json(_set("fitted.network_parameters.latent_dim", -3)),
        "latent_dim",
    ),
    "network larger than the file": (
        _edit_json(_set("fitted.network_parameters.conv_filters", [30_000, 30_000])),
        "larger than the weights",
    ),
    "conv strides too large": (
        _edit_json(_set("fitted.network_parameters.conv_strides", [8, 8])),
        "conv_strides",
    ),
    "n_features mismatch": (_edit_json(_set("fitted.layout.n_features", 63)), "n_features"),
    "image shape mismatch": (
        _edit_json(_set("fitted.layout.image_shape", [4, 4, 4])),
        "latent_dim|encoder|expected",
    ),
    "bad architecture": (_edit_json(_set("fitted.layout.architecture", "lambda")), "architecture"),
    "negative decoder variance": (
        _edit_json(_set("fitted.decoder_variance", -1.0)),
        "decoder_variance",
    ),
    "n_iter mismatch": (_edit_json(_set("fitted.n_iter", 5)), "history.npy"),
    "history name": (_edit_json(_set("fitted.history", ["../loss"])), "history"),
    "weight count": (_edit_json(_set("fitted.encoder", 99)), "weight arrays"),
    "inference seed": (_edit_json(_set("fitted.inference_seed", "0")), "inference_seed"),
    "float n_iter": (_edit_json(_set("fitted.n_iter", 1.0)), "n_iter"),
}


@pytest.mark.parametrize(("mutate", "fragment"), REFUSALS.values(), ids=REFUSALS.keys())
def test_load_refuses(fitted, mutate, fragment):
    _, _, data = fitted["vae-4d-conv-gaussian-f32"]
    start = time.perf_counter()
    with pytest.raises(ValueError, match=fragment):
        _load(mutate(data))
    # Refused after checks, not after working through what the file declares.
    assert time.perf_counter() - start < 10


def test_load_refuses_a_wrong_imputer_array(fitted):
    _, _, data = fitted["imputer-2d-dense-indicator-f32"]
    not_booleans = _edit_members(
        lambda m: m.update({"empty_features.npy": m["empty_features.npy"][:-1] + b"\x07"})
    )
    with pytest.raises(ValueError, match="not booleans"):
        _load(not_booleans(data))
    marker = _edit_json(_set("fitted.missing_values", "nan"))
    with pytest.raises(ValueError, match="missing_values"):
        _load(marker(data))


def test_load_refuses_a_random_state_of_the_wrong_shape(fitted):
    _, _, data = fitted["vae-2d-conv-batchnorm-f64-randomstate"]
    short = _edit_members(lambda m: m.update({"random_state.npy": _npy(np.zeros(3, "<u4"))}))
    with pytest.raises(ValueError, match=r"random_state\.npy"):
        _load(short(data))


def test_load_names_the_file(tmp_path):
    path = tmp_path / "broken.skvae"
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"broken\.skvae"):
        skvae.load(path)
    with pytest.raises(FileNotFoundError):
        skvae.load(tmp_path / "absent.skvae")


# ------------------------------------------------------- hostile payloads


class _WritesAFile:
    """Unpickling this writes ``path``: the side effect a hostile file wants."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.write_text, (Path(self.path), "code ran"))


def _lambda_model_files(marker, tmp_path):
    """The ``.keras`` archive of a model whose Lambda layer writes ``marker``, and its config."""
    import keras

    writes_marker = eval(  # a function Keras serialises as bytecode
        f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), x)[1]"
    )
    model = keras.Sequential([keras.Input((64,)), keras.layers.Lambda(writes_marker)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json")
    return path, config


def test_payloads_are_live(tmp_path):
    # The hostile contents below do run code when loaded the unsafe way, so the
    # refusal tests can fail.
    import keras

    marker = tmp_path / "pickle-ran"
    pickle.loads(pickle.dumps(_WritesAFile(marker)))
    assert marker.exists()
    marker = tmp_path / "lambda-ran"
    path, _ = _lambda_model_files(marker, tmp_path)
    keras.saving.load_model(path, safe_mode=False)(np.zeros((1, 64)))
    assert marker.exists()


def test_no_code_runs_on_load(fitted, tmp_path):
    _, _, data = fitted["vae-4d-conv-gaussian-f32"]
    marker = tmp_path / "code-ran"
    payload = pickle.dumps(_WritesAFile(marker))
    object_array = _npy(np.array([_WritesAFile(marker)], dtype=object), allow_pickle=True)
    keras_archive, lambda_config = _lambda_model_files(marker, tmp_path)
    marker.unlink(missing_ok=True)  # Keras ran the Lambda to build the model
    lambda_json = json.loads(lambda_config)
    weight = _first_kernel(_members(data))
    hostile = {
        "whole file a pickle": payload,
        "whole file a Keras archive": keras_archive.read_bytes(),
        "pickled metadata": _edit_members(lambda m: m.update({"skvae.json": payload}))(data),
        "pickle as weight": _edit_members(lambda m: m.update({weight: payload}))(data),
        "object array as weight": _edit_members(lambda m: m.update({weight: object_array}))(data),
        "object array as history": _edit_members(
            lambda m: m.update({"history.npy": object_array})
        )(data),
        "pickle member": _edit_members(lambda m: m.update({"payload.pkl": payload}))(data),
        "Lambda config member": _edit_members(
            lambda m: m.update({"encoder/config.json": lambda_config})
        )(data),
        "Lambda config as encoder": _edit_json(_set("fitted.encoder", lambda_json))(data),
        "Lambda config as parameter": _edit_json(_set("params.hidden_layer_sizes", lambda_json))(
            data
        ),
        "reduce tuple as parameter": _edit_json(
            _set("params.random_state", {"__reduce__": ["pathlib.Path.write_text", [str(marker)]]})
        )(data),
    }
    for name, content in hostile.items():
        with pytest.raises(ValueError):
            _load(content)
        assert not marker.exists(), name


# ------------------------------------------------------------------- fuzz

FUZZ_SEED = 20240522
N_BYTE_MUTATIONS = 300
N_MEMBER_EDITS = 300

_ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1,
    3,
    2**40,
    1e308,
    -1e-300,
    float("nan"),
    float("inf"),
    "",
    "auto",
    "conv",
    "sigmoid",
    "gaussian",
    [],
    [1],
    [1, 2, 3],
    [[1]],
    {},
    {"a": 1},
]


def _mutate_bytes(data, rng):
    data = bytearray(data)
    kind = rng.integers(6)
    if kind == 0:  # flip bits
        for position in rng.integers(len(data), size=rng.integers(1, 4)):
            data[position] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # overwrite a byte
        data[rng.integers(len(data))] = int(rng.integers(256))
    elif kind == 2:  # truncate
        del data[rng.integers(len(data)) :]
    elif kind == 3:  # insert bytes
        position = rng.integers(len(data))
        data[position:position] = rng.bytes(int(rng.integers(1, 16)))
    elif kind == 4:  # delete a range
        position = rng.integers(len(data))
        del data[position : position + int(rng.integers(1, 64))]
    else:  # overwrite inside the zip headers and directory, where CRCs do not reach
        position = rng.choice([0, *(i for i in range(len(data) - 4) if data[i : i + 2] == b"PK")])
        data[min(position + rng.integers(46), len(data) - 1)] = int(rng.integers(256))
    return bytes(data)


def _json_leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from _json_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index)
            yield from _json_leaves(item, (*path, index))


def _edit_member(data, rng, resign):
    members = _members(data)
    names = sorted(members)
    kind = rng.integers(6)
    if kind == 0:
        members.pop(names[rng.integers(len(names))])
    elif kind == 1:
        name = ["extra.npy", "encoder/layer99_weight0.npy", "config.json", "a/b.json"][
            rng.integers(4)
        ]
        members[name] = _npy(rng.standard_normal(3))
    elif kind == 2:  # an array member replaced by another array
        arrays = [name for name in names if name.endswith(".npy")]
        name = arrays[rng.integers(len(arrays))]
        original = np.load(io.BytesIO(members[name]))
        dtype = ["<f4", "<f8", ">f4", "<i4", "|b1", "<u4"][rng.integers(6)]
        shape = original.shape if rng.random() < 0.5 else tuple(rng.integers(0, 5, size=2))
        members[name] = _npy((rng.standard_normal(shape) * 2).astype(dtype))
    elif kind == 3:  # two members swap contents
        first, second = rng.choice(names, size=2, replace=False)
        members[first], members[second] = members[second], members[first]
    else:  # a JSON value changed, removed or added
        document = json.loads(members["skvae.json"])
        paths = list(_json_leaves(document))
        *parents, last = paths[rng.integers(len(paths))]
        parent = document
        for key in parents:
            parent = parent[key]
        if kind == 4:
            parent[last] = _ODD_VALUES[rng.integers(len(_ODD_VALUES))]
        elif isinstance(parent, dict):
            parent.pop(last)
        else:
            parent.append(_ODD_VALUES[rng.integers(len(_ODD_VALUES))])
        members["skvae.json"] = json.dumps(document).encode()
    return _archive(_resign(members) if resign else members)


def test_fuzzed_files_load_the_same_or_raise_value_error(fitted):
    """Seeded fuzzing: 600 mutated files, 300 byte mutations and 300 member edits.

    A byte mutation, or a member edit (a member removed, added, replaced or
    swapped, a JSON value changed, removed or added) that leaves the
    checksums as they were, must either raise ``ValueError`` or load into an
    estimator whose outputs are exactly the original's. Half of the member
    edits also recompute the checksums, as a deliberate forger would; those
    must raise ``ValueError`` or load into a working estimator (finite
    ``transform`` of the right shape). Any other exception fails the test.
    About 30 s on two busy cores.
    """
    original, X, data = fitted["vae-2d-dense-linear-f64"]
    expected = _results(original, X)
    rng = np.random.default_rng(FUZZ_SEED)
    outcomes = {"refused": 0, "loaded": 0, "forged and loaded": 0}
    for case in range(N_BYTE_MUTATIONS + N_MEMBER_EDITS):
        byte_mutation = case < N_BYTE_MUTATIONS
        forged = not byte_mutation and case % 2 == 1
        if byte_mutation:
            mutated = _mutate_bytes(data, rng)
        else:
            mutated = _edit_member(data, rng, resign=forged)
        try:
            loaded = _load(mutated)
        except ValueError:
            outcomes["refused"] += 1
            continue
        if forged:
            outcomes["forged and loaded"] += 1
            Z = loaded.transform(X)
            assert Z.shape == (len(X), loaded._n_features_out) and np.isfinite(Z).all()
            continue
        outcomes["loaded"] += 1
        for name, value in _results(loaded, X).items():
            np.testing.assert_array_equal(value, expected[name], err_msg=f"case {case}")
    # Every outcome occurs: the mutations neither all miss nor all break the file.
    assert min(outcomes.values()) > 0, outcomes


def test_load_names_a_pickle_as_one_and_never_unpickles_it(fitted, tmp_path):
    import joblib

    original = fitted["vae-2d-dense-linear-f64"][0]
    path = tmp_path / "model.joblib"
    joblib.dump(original, path)  # holds .keras zip archives: a zip at its end
    with pytest.raises(ValueError, match="not a zip archive but a pickle"):
        skvae.load(path)
    marker = tmp_path / "code-ran"
    path.write_bytes(pickle.dumps(_WritesAFile(marker)))
    with pytest.raises(ValueError, match=r"model\.joblib.*a pickle .*never unpickles"):
        skvae.load(path)
    assert not marker.exists()


def test_load_refuses_a_zip_behind_other_bytes(fitted):
    _, _, data = fitted["vae-2d-dense-linear-f64"]
    with pytest.raises(ValueError, match="no zip header at its start"):
        _load(b"#!/bin/sh\n" + data)


# ------------------------------------------------ a pipeline's scaler


@pytest.fixture(scope="module")
def scaled(fitted):
    """A fitted Pipeline(StandardScaler, VAEImputer) on a DataFrame with NaN, and its file."""
    pd = pytest.importorskip("pandas")
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    _, X, _ = fitted["imputer-2d-dense-indicator-f32"]
    frame = pd.DataFrame(X[:, :3] * 100 + 50, columns=["a", "b", "c"])
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("impute", VAEImputer(n_importance_samples=4, random_state=0, **TINY)),
        ]
    ).fit(frame)
    return pipeline, frame, _saved(pipeline)


def test_pipeline_with_a_scaler_round_trips(scaled):
    pipeline, frame, data = scaled
    loaded = _load(data)
    assert [name for name, _ in loaded.steps] == ["scale", "impute"]
    scaler, original = loaded[0], pipeline[0]
    for name in ("mean_", "var_", "scale_", "n_samples_seen_", "feature_names_in_"):
        np.testing.assert_array_equal(getattr(scaler, name), getattr(original, name))
    assert scaler.n_samples_seen_.dtype == np.int64  # one count per feature: NaN were seen
    np.testing.assert_array_equal(loaded.transform(frame), pipeline.transform(frame))
    assert json.loads(_members(data)["skvae.json"])["format_version"] == 3


def test_file_without_a_scaler_stays_version_2(fitted):
    _, _, data = fitted["vae-2d-dense-linear-f64"]
    assert json.loads(_members(data)["skvae.json"])["format_version"] == 2


def test_save_refuses_other_pipelines(fitted):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    original = fitted["vae-2d-dense-linear-f64"][0]
    for pipeline in (
        make_pipeline(MinMaxScaler(), original),
        make_pipeline(StandardScaler(), PCA()),
        make_pipeline(StandardScaler(), StandardScaler(), original),
    ):
        with pytest.raises(TypeError, match="Pipeline of a StandardScaler"):
            skvae.save(pipeline, io.BytesIO())


@pytest.fixture(scope="module")
def pandas_output(scaled):
    """``scaled``'s pipeline fitted with ``set_output(transform="pandas")``, and its file."""
    pipeline, frame, _ = scaled
    pipeline = clone(pipeline).set_output(transform="pandas").fit(frame)
    return pipeline, frame, _saved(pipeline)


def test_set_output_survives_the_model_file(pandas_output):
    # A loaded model returns what the saved one returned, as an unpickled one does.
    pd = pytest.importorskip("pandas")
    pipeline, frame, data = pandas_output
    loaded = _load(data)
    pd.testing.assert_frame_equal(loaded.transform(frame), pipeline.transform(frame))
    pd.testing.assert_frame_equal(loaded[0].transform(frame), pipeline[0].transform(frame))
    document = json.loads(_members(data)["skvae.json"])
    assert document["output"] == {"estimator": "pandas", "scaler": "pandas"}
    assert document["format_version"] == 5
    alone = pickle.loads(pickle.dumps(pipeline[1])).set_output(transform="default")
    alone = _load(_saved(alone))
    assert isinstance(alone.transform(frame), np.ndarray)
    # The default container is not written: the file stays readable by older skvae.
    assert "output" not in json.loads(_members(_saved(alone))["skvae.json"])


OUTPUT_REFUSALS = {
    "output in a version-4 file": (_set("format_version", 4), "unexpected \\['output'\\]"),
    "unknown container": (_set("output.estimator", "pickle"), "output.estimator must be"),
    "unknown step": (_set("output.encoder", "pandas"), "output must map"),
    "not an object": (_set("output", ["pandas"]), "output must map"),
}


@pytest.mark.parametrize(
    ("edit", "fragment"), OUTPUT_REFUSALS.values(), ids=OUTPUT_REFUSALS.keys()
)
def test_load_refuses_a_bad_output_entry(pandas_output, edit, fragment):
    _, _, data = pandas_output
    with pytest.raises(ValueError, match=fragment):
        _load(_edit_json(edit)(data))


SCALER_REFUSALS = {
    "scaler in a version-2 file": (_set("format_version", 2), "unexpected \\['scaler'\\]"),
    "extra scaler key": (_set("scaler.extra", 1), "scaler: unexpected \\['extra'\\]"),
    "step name with dunder": (_set("scaler.steps", ["a__b", "c"]), "scaler.steps"),
    "same step names": (_set("scaler.steps", ["a", "a"]), "scaler.steps"),
    "reserved step name": (_set("scaler.steps", ["memory", "c"]), "scaler.steps"),
    "non-boolean parameter": (_set("scaler.params.with_mean", "yes"), "scaler.params"),
    "missing mean member": (_set("scaler.mean", None), "scaler.mean must be"),
    "zero count": (_set("scaler.n_samples_seen", 0), "n_samples_seen"),
    "names of the wrong length": (_set("scaler.feature_names_in", ["a"]), "feature_names_in"),
}


@pytest.mark.parametrize(
    ("edit", "fragment"), SCALER_REFUSALS.values(), ids=SCALER_REFUSALS.keys()
)
def test_load_refuses_a_bad_scaler(scaled, edit, fragment):
    _, _, data = scaled
    with pytest.raises(ValueError, match=fragment):
        _load(_edit_json(edit)(data))


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        (np.array([1.0, 0.0, 2.0]), "non-positive"),
        (np.array([1.0, np.nan, 2.0]), "NaN or infinite"),
        (np.array([1.0, 2.0]), r"expected \(3,\)"),
        (np.array([1, 2, 3], dtype="<i8"), "<i8"),
    ],
)
def test_load_refuses_bad_scaler_arrays(scaled, values, fragment):
    _, _, data = scaled
    edit = _edit_members(lambda m: m.update({"scaler/scale.npy": _npy(values)}))
    with pytest.raises(ValueError, match=fragment):
        _load(edit(data))


def test_a_scaler_member_holding_a_pickle_runs_nothing(scaled, tmp_path):
    _, _, data = scaled
    marker = tmp_path / "code-ran"
    object_array = _npy(np.array([_WritesAFile(marker)], dtype=object), allow_pickle=True)
    for member in ("scaler/mean.npy", "scaler/n_samples_seen.npy"):
        with pytest.raises(ValueError):
            _load(_edit_members(lambda m, member=member: m.update({member: object_array}))(data))
    assert not marker.exists()


# ---------------------------------------------------------------- mixed tables


@pytest.fixture(scope="module")
def mixed():
    """A mixed table, a VariationalAutoencoder fitted on it, and its file."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    z = rng.normal(size=60)
    table = pd.DataFrame(
        {
            "x": z,
            "colour": pd.Categorical(
                np.where(z > 0, "red", "blue"), categories=["red", "blue", "green"]
            ),
            "flag": z > 0.5,
            "size": pd.Categorical(np.where(z > 0, "L", "S"), categories=["S", "L"], ordered=True),
            "n": rng.integers(0, 3, size=60),
            "y": z.astype(np.float32),
        }
    )
    estimator = VariationalAutoencoder(
        random_state=0, column_types={"n": "categorical"}, **TINY
    ).fit(table)
    return estimator, table, _saved(estimator)


def test_a_mixed_model_round_trips_with_its_columns(mixed):
    pd = pytest.importorskip("pandas")
    original, table, data = mixed
    loaded = _load(data)
    assert loaded.get_params() == original.get_params()
    assert loaded._layout == original._layout
    np.testing.assert_array_equal(loaded.transform(table), original.transform(table))
    np.testing.assert_array_equal(loaded.score_samples(table), original.score_samples(table))
    Z = original.transform(table)
    for name, decode in (
        ("inverse_transform", lambda e: e.inverse_transform(Z)),
        ("sample", lambda e: e.sample(7, random_state=0)),
    ):
        decoded = decode(loaded)
        pd.testing.assert_frame_equal(decoded, decode(original), check_exact=True, obj=name)
        pd.testing.assert_series_equal(decoded.dtypes.drop("n"), table.dtypes.drop("n"))
        assert decoded["size"].dtype == table["size"].dtype  # categories, order, ordered
        assert decoded["n"].dtype == table["n"].dtype and set(decoded["n"]) <= {0, 1, 2}


def test_a_mixed_file_holds_its_columns_as_plain_json(mixed):
    document = json.loads(_members(mixed[2])["skvae.json"])
    columns = document["fitted"]["layout"]["columns"]
    assert [column["name"] for column in columns] == ["x", "colour", "flag", "size", "n", "y"]
    assert columns[1] == {
        "name": "colour",
        "kind": "categorical",
        "dtype": "category",
        "categories": ["red", "blue", "green"],
        "ordered": False,
        "location": 0.0,
        "scale": 1.0,
    }
    # A real column keeps the mean and deviation that standardize it.
    x = mixed[1]["x"].to_numpy()
    assert columns[0]["location"] == pytest.approx(x.mean())
    assert columns[0]["scale"] == pytest.approx(x.std())
    assert columns[3]["ordered"] and columns[2]["categories"] == [False, True]
    assert document["params"]["column_types"] == [["n", "categorical"]]
    # A numeric model's layout has no columns entry, as before mixed tables.
    assert (
        "columns" not in json.loads(_members(_saved_numeric())["skvae.json"])["fitted"]["layout"]
    )


def test_a_category_column_whose_categories_dtype_pandas_would_not_infer_is_version_6():
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame(
        {
            "x": np.linspace(0.0, 1.0, 40),
            "g": pd.Series(np.arange(40) % 3, dtype=np.int32).astype("category"),
        }
    )
    buffer = io.BytesIO()
    skvae.save(VariationalAutoencoder(epochs=1, random_state=0).fit(table), buffer)
    document = json.loads(_members(buffer.getvalue())["skvae.json"])
    # An older skvae says the file is newer instead of losing the int32.
    assert document["format_version"] == 6
    assert document["fitted"]["layout"]["columns"][1]["categories_dtype"] == "int32"
    assert skvae.load(io.BytesIO(buffer.getvalue())).sample(3, 0).dtypes.equals(table.dtypes)


def test_a_mixed_file_holds_how_it_reads_unknown_categories(mixed):
    document = json.loads(_members(mixed[2])["skvae.json"])
    # Its standardized columns and handle_unknown came with version 4: an
    # older skvae says the file is newer instead of misreading it.
    assert document["format_version"] == 4
    assert document["fitted"]["layout"]["handle_unknown"] == "error"
    assert document["params"]["handle_unknown"] == "error"
    # A numeric model's layout has none: it has no categories.
    layout = json.loads(_members(_saved_numeric())["skvae.json"])["fitted"]["layout"]
    assert "handle_unknown" not in layout


def test_a_mixed_file_from_before_handle_unknown_raises_on_unknown_categories(mixed):
    def older(document):
        del document["fitted"]["layout"]["handle_unknown"]
        del document["params"]["handle_unknown"]

    loaded = _load(_edit_json(older)(mixed[2]))
    assert loaded.handle_unknown == "error"
    unknown = mixed[1].head(3).assign(flag=["yes", "no", "maybe"])
    with pytest.raises(ValueError, match="column 'flag' of X has the category 'yes'"):
        loaded.transform(unknown)


def _saved_numeric():
    X = np.random.default_rng(0).normal(size=(30, 3))
    return _saved(VariationalAutoencoder(random_state=0, **TINY).fit(X))


def _set_column(i, key, value):
    def edit(document):
        document["fitted"]["layout"]["columns"][i][key] = value

    return _edit_json(edit)


MIXED_REFUSALS = {
    "columns not a list": (_edit_json(_set("fitted.layout.columns", {})), "layout.columns"),
    "a column too few": (
        _edit_json(lambda d: d["fitted"]["layout"]["columns"].pop()),
        "layout.columns must be null or a list of n_features_in",
    ),
    "extra column entry": (_set_column(0, "extra", 1), r"layout.columns\[0\] must have exactly"),
    "unknown kind": (_set_column(0, "kind", "interval"), r"layout.columns\[0\].kind"),
    "scale zero": (_set_column(0, "scale", 0.0), r"columns\[0\].location must be a finite"),
    "scale negative": (_set_column(0, "scale", -2.0), r"columns\[0\].location must be"),
    "location a string": (_set_column(0, "location", "0"), r"columns\[0\].location must be"),
    "location infinite": (_set_column(0, "location", math.inf), r"columns\[0\].location"),
    "categorical with a scale": (
        _set_column(1, "scale", 2.0),
        r"columns\[1\]: only a real or positive column has a location and scale",
    ),
    "only a scale": (
        _edit_json(lambda d: d["fitted"]["layout"]["columns"][0].pop("location")),
        r"layout.columns\[0\] must have exactly",
    ),
    "renamed column": (_set_column(0, "name", "w"), r"columns\[0\].name must be feature_names_in"),
    "name not a string": (_set_column(0, "name", [1]), r"columns\[0\].name must be a string"),
    "real with categories": (_set_column(0, "categories", [1, 2]), "a real column has"),
    "real of a string dtype": (_set_column(0, "dtype", "object"), "a real column has"),
    "count with categories": (
        _edit_json(
            lambda d: d["fitted"]["layout"]["columns"][0].update(kind="count", categories=[1, 2])
        ),
        "a count column has",
    ),
    "one category": (_set_column(1, "categories", ["red"]), r"columns\[1\].categories must be"),
    "categories_dtype null": (_set_column(1, "categories_dtype", None), "categories_dtype must"),
    "categories_dtype not a dtype": (
        _set_column(1, "categories_dtype", "colour"),
        r"columns\[1\].categories_dtype 'colour' is not a dtype",
    ),
    "categories_dtype a date": (
        _set_column(1, "categories_dtype", "datetime64[ns]"),
        r"categories_dtype 'datetime64\[ns\]' is not a column type's dtype",
    ),
    "categories not of their dtype": (
        _set_column(1, "categories_dtype", "int8"),
        r"columns\[1\].categories are not of its categories_dtype",
    ),
    "categories cast by their dtype": (
        _edit_json(
            lambda d: d["fitted"]["layout"]["columns"][1].update(
                categories=[1, 2, 3], categories_dtype="string"
            )
        ),
        r"columns\[1\].categories are not of its categories_dtype",
    ),
    "categories_dtype of a real column": (
        _set_column(0, "categories_dtype", "int8"),
        r"columns\[0\].categories_dtype must be the dtype name of a category column",
    ),
    "mixed category types": (
        _set_column(1, "categories", ["red", 1, "green"]),
        r"columns\[1\].categories must be",
    ),
    "repeated category": (
        _set_column(1, "categories", ["red", "red", "blue"]),
        r"columns\[1\].categories must be",
    ),
    "category not plain": (
        _set_column(1, "categories", [{"a": 1}, {"b": 2}, {"c": 3}]),
        r"columns\[1\].categories must be",
    ),
    "no such dtype": (_set_column(1, "dtype", "no_such_dtype"), "is not a dtype"),
    "dtype too long": (_set_column(1, "dtype", "x" * 100), r"dtype must be a dtype's name"),
    "date dtype": (_set_column(1, "dtype", "datetime64[ns]"), "not a column type's dtype"),
    "ordered object": (_set_column(2, "ordered", True), "only it is ordered"),
    "ordered not a boolean": (_set_column(3, "ordered", 1), "ordered must be true or false"),
    "categories change the width": (
        _set_column(1, "categories", ["red", "blue"]),
        r"layout.n_features must equal the columns' features \(11\), got 12",
    ),
    "no categorical column": (
        _edit_json(
            lambda d: [
                c.update(kind="real", categories=None, ordered=False, dtype="float64")
                for c in d["fitted"]["layout"]["columns"]
            ]
        ),
        "layout.columns must hold a column that is not real",
    ),
    "images": (_edit_json(_set("fitted.layout.image_shape", [1, 1, 13])), "image_shape"),
    "sigmoid output": (
        _edit_json(_set("fitted.layout.output_activation", "sigmoid")),
        "a linear output",
    ),
    "bernoulli real columns": (
        _edit_json(_set("fitted.layout.likelihood", "bernoulli")),
        "real columns cannot follow 'bernoulli'",
    ),
    "column_types a dict": (
        _edit_json(_set("params.column_types", {"n": "categorical"})),
        "params.column_types must be null or distinct",
    ),
    "column_types of an unknown type": (
        _edit_json(_set("params.column_types", [["n", "interval"]])),
        "params.column_types must be null or distinct",
    ),
    "column_types repeated": (
        _edit_json(_set("params.column_types", [["n", "real"], ["n", "categorical"]])),
        "params.column_types must be null or distinct",
    ),
    "handle_unknown of no such value": (
        _edit_json(_set("fitted.layout.handle_unknown", "infrequent_if_exist")),
        r"layout.handle_unknown must be one of \['error', 'ignore'\]",
    ),
    "handle_unknown not a string": (
        _edit_json(_set("fitted.layout.handle_unknown", ["ignore"])),
        "layout.handle_unknown must be one of",
    ),
    "handle_unknown parameter": (
        _edit_json(_set("params.handle_unknown", "skip")),
        "handle_unknown",
    ),
}


def test_load_refuses_handle_unknown_in_a_numeric_layout(fitted):
    # A numeric table has no categories, so no way to read unknown ones.
    edit = _edit_json(_set("fitted.layout.handle_unknown", "ignore"))
    with pytest.raises(ValueError, match="layout must have exactly the entries"):
        _load(edit(fitted["vae-2d-dense-linear-f64"][2]))


@pytest.mark.parametrize(
    ("mutate", "fragment"), MIXED_REFUSALS.values(), ids=MIXED_REFUSALS.keys()
)
def test_load_refuses_a_bad_mixed_file(mixed, mutate, fragment):
    with pytest.raises(ValueError, match=fragment):
        _load(mutate(mixed[2]))


@pytest.mark.parametrize("field", ["dtype", "categories_dtype"])
def test_load_refuses_a_dtype_this_python_cannot_build(mixed, field):
    # A column of pandas' pyarrow dtypes saves its dtype's name; where
    # pyarrow is missing, pandas raises ImportError for it: a refusal too.
    if importlib.util.find_spec("pyarrow") is not None:
        pytest.skip("pyarrow builds the dtype here")
    column = 0 if field == "dtype" else 1
    edited = _set_column(column, field, "int64[pyarrow]")(mixed[2])
    with pytest.raises(ValueError, match=rf"columns\[{column}\].{field} 'int64\[pyarrow\]' needs"):
        _load(edited)


def test_save_refuses_columns_it_cannot_hold(mixed):
    estimator, table, _ = mixed
    odd = table.assign(colour=table["colour"].cat.rename_categories([(1,), (2,), (3,)]))
    refit = pickle.loads(pickle.dumps(estimator)).fit(odd)
    with pytest.raises(TypeError, match=r"cannot save column 'colour''s category \(1,\)"):
        skvae.save(refit, io.BytesIO())
