"""
=====================================
Serving a pipeline with ONNX Runtime
=====================================

Convert a fitted ``StandardScaler -> VariationalAutoencoder ->
LogisticRegression`` pipeline to one ONNX graph with skl2onnx, and run it with
onnxruntime, which needs neither TensorFlow nor skvae. Importing
:mod:`skvae.onnx` is the only step skvae adds: it registers the converter
that builds the autoencoder's graph from its fitted weights. The converted
pipeline predicts the same labels, with the same probabilities to float32
rounding, in a fraction of the time per row. Needs the ``onnx`` extra
(``pip install "skvae[onnx]"``).
"""

import os
import shutil
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
import skl2onnx
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skvae.onnx  # registers skvae's converters with skl2onnx
from skvae import VariationalAutoencoder

SMOKE = os.environ.get("SKVAE_EXAMPLES_SMOKE") == "1"

# %%
# Fit the pipeline
# ----------------
# The digits as float32 rows, the type a serving process usually receives.
digits = load_digits()
X = (digits.data / 16).astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, digits.target, test_size=0.25, random_state=0, stratify=digits.target
)
pipeline = make_pipeline(
    StandardScaler(),
    VariationalAutoencoder(
        latent_dim=8,
        image_shape=(8, 8),  # the rows are 8x8 images
        conv_filters=(16, 32),
        conv_strides=(2, 2),
        epochs=1 if SMOKE else 25,
        random_state=0,
    ),
    LogisticRegression(max_iter=1000),
).fit(X_train, y_train)
print(f"held-out accuracy of the fitted pipeline: {pipeline.score(X_test, y_test):.3f}")

# %%
# Convert it
# ----------
# ``X_train[:1]`` gives the input's type (float32) and width; the number of
# rows stays free. ``zipmap=False`` makes the classifier's probabilities one
# array instead of a dictionary per row.
onnx_model = skl2onnx.to_onnx(
    pipeline, X_train[:1], options={LogisticRegression: {"zipmap": False}}
)
directory = Path(tempfile.mkdtemp())  # wherever the service reads its model from
model_path = directory / "digits_pipeline.onnx"
model_path.write_bytes(onnx_model.SerializeToString())
print(f"{model_path.name}: {model_path.stat().st_size / 1e3:.0f} kB")

# %%
# Serve it
# --------
# All a serving process needs: onnxruntime, NumPy and the file. The graph
# takes 2-D float32 rows and returns the labels and the probabilities.
session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
shutil.rmtree(directory)  # the session holds the graph
labels, probabilities = session.run(None, {"X": X_test})
agree = np.array_equal(labels, pipeline.predict(X_test))
largest = np.abs(probabilities - pipeline.predict_proba(X_test)).max()
print(f"same labels on all {len(X_test)} held-out rows: {agree}")
print(f"largest probability difference: {largest:.1e}")

# %%
# The autoencoder alone
# ---------------------
# :func:`skvae.onnx.to_onnx` exports one estimator's ``transform`` (latent
# means) or ``inverse_transform`` (decoding).
vae = pipeline[1]
scaled_test = pipeline[0].transform(X_test)
encoder = ort.InferenceSession(
    skvae.onnx.to_onnx(vae).SerializeToString(), providers=["CPUExecutionProvider"]
)
(latent,) = encoder.run(None, {"X": scaled_test})
difference = np.abs(latent - vae.transform(scaled_test)).max()
print(
    f"largest latent difference: {difference:.1e} (latent means up to {np.abs(latent).max():.1f})"
)


# %%
# Time per row
# ------------
# One row at a time, as a web service receives them: the median of repeated
# calls of the fitted pipeline and of the ONNX session.
def median_seconds(predict, repeats):
    times = []
    for i in range(repeats):
        row = X_test[i % len(X_test)][None, :]
        start = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


repeats = 20 if SMOKE else 200
latency = {
    "fitted pipeline": median_seconds(pipeline.predict_proba, repeats),
    "onnxruntime": median_seconds(lambda row: session.run(None, {"X": row}), repeats),
}
for name, seconds in latency.items():
    print(f"one row, {name}: {seconds * 1e3:.2f} ms")

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
scatter = axes[0].scatter(latent[:, 0], latent[:, 1], c=y_test, cmap="tab10", s=8)
axes[0].set_title("latent means from the ONNX graph (2 of 8)")
fig.colorbar(scatter, ax=axes[0], label="digit")
axes[1].bar(list(latency), [seconds * 1e3 for seconds in latency.values()])
axes[1].set_ylabel("ms per one-row call (median)")
axes[1].set_title("one-row latency")
plt.show()
