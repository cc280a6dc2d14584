"""Serving a fitted VAE's ``transform`` with onnxruntime against skvae itself.

Run from the repository root::

    python -m benchmarks.onnx_serving --data ../shared/data/mnist --out onnx_serving.json

It fits skvae's default network on MNIST rows (float32 in [0, 1]), exports
``transform`` with :func:`skvae.onnx.to_onnx`, checks that both give the
same latent means (and the same decodings), then measures, with the two
contenders interleaved and warmed up:

* one-row latency: the median over ``--repeats`` rounds of the median of
  ``--calls`` one-row calls;
* throughput on 10,000 rows: the median over ``--repeats`` whole-batch calls;
* the serving process: a fresh interpreter per contender (``--serve``) that
  imports what it needs, loads the model (the ``.onnx`` file, or the
  estimator pickled with joblib), answers one row and then 10,000 rows, and
  reports its start-up time, its resident memory (VmRSS) after loading and
  its peak (VmHWM), and whether TensorFlow got imported.

Without ``--data`` it uses scikit-learn's digits upscaled to 28x28 (no
download). This module imports only NumPy at the top, so that the
onnxruntime worker's memory is a serving process's, not skvae's.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MB = 2**20
N_BULK = 10_000
# onnxruntime runs a batch in one go, so its activations grow with the batch
# (10,000 MNIST rows through the default network: about 2 GB); a service
# that feeds it chunks of this many rows keeps them small.
CHUNK = 512


def memory_status():
    """VmRSS and VmHWM of this process, in MB (Linux /proc)."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024 / MB
    return values


def chunked(predict, chunk):
    """``predict`` applied to consecutive chunks of ``chunk`` rows, results stacked."""

    def predict_in_chunks(X):
        return np.concatenate([predict(X[i : i + chunk]) for i in range(0, len(X), chunk)])

    return predict_in_chunks


def serve(kind, model_path, rows_path):
    """The serving process: load, answer one row, then 10,000; report what it cost."""
    started = time.perf_counter()
    if kind.startswith("onnxruntime"):
        import onnxruntime as ort

        session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])

        def predict(X):
            return session.run(None, {"X": X})[0]

        if kind == "onnxruntime_chunked":
            predict = chunked(predict, CHUNK)
    else:
        import joblib

        estimator = joblib.load(model_path)
        predict = estimator.transform
    X = np.load(rows_path)
    predict(X[:1])
    first_row = time.perf_counter() - started
    loaded = memory_status()
    predict(X)
    return {
        "kind": kind,
        "seconds_to_first_answer": first_row,
        "rss_after_one_row_mb": loaded["VmRSS"],
        "peak_rss_after_bulk_mb": memory_status()["VmHWM"],
        "tensorflow_imported": "tensorflow" in sys.modules,
    }


def interleaved_medians(contenders, run_once, repeats):
    """Median over ``repeats`` rounds of ``run_once(contender)`` for each, in turn."""
    seconds = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, contender in contenders.items():
            seconds[name].append(run_once(contender))
    return {name: float(np.median(values)) for name, values in seconds.items()}, seconds


def one_row_seconds(predict, rows, calls):
    times = []
    for i in range(calls):
        row = rows[i % len(rows)][None, :]
        start = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bulk_seconds(predict, rows):
    start = time.perf_counter()
    predict(rows)
    return time.perf_counter() - start


def fresh_process(kind, model_path, rows_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.onnx_serving",
            "--serve",
            kind,
            str(model_path),
            str(rows_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return json.loads(done.stdout.splitlines()[-1])


def benchmark(args):
    import joblib
    import onnxruntime as ort

    from benchmarks.data import load_images, repeat_rows, scaled
    from skvae import VariationalAutoencoder
    from skvae.onnx import to_onnx

    images, _, source = load_images(args.data)
    X = scaled(images.reshape(len(images), -1))
    X_train, X_serve = X[: args.train], repeat_rows(X[args.train :], N_BULK)
    vae = VariationalAutoencoder(
        image_shape=images.shape[1:], epochs=args.epochs, random_state=0
    ).fit(X_train)
    model = to_onnx(vae)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    decoder = ort.InferenceSession(
        to_onnx(vae, "inverse_transform").SerializeToString(), providers=["CPUExecutionProvider"]
    )

    def onnx_transform(rows):
        return session.run(None, {"X": rows})[0]

    Z = vae.transform(X_serve)
    agreement = {
        "transform_max_abs_difference": float(np.abs(onnx_transform(X_serve) - Z).max()),
        "one_row_transform_max_abs_difference": float(
            np.abs(onnx_transform(X_serve[:1]) - vae.transform(X_serve[:1])).max()
        ),
        "inverse_transform_max_abs_difference": float(
            np.abs(decoder.run(None, {"X": Z})[0] - vae.inverse_transform(Z)).max()
        ),
    }
    contenders = {"skvae": vae.transform, "onnxruntime": onnx_transform}
    bulk_contenders = {**contenders, "onnxruntime_chunked": chunked(onnx_transform, CHUNK)}
    for predict in bulk_contenders.values():  # warm-up: traces, kernel choice
        predict(X_serve[:1])
        predict(X_serve)
    latency, latency_each = interleaved_medians(
        contenders, lambda predict: one_row_seconds(predict, X_serve, args.calls), args.repeats
    )
    bulk, bulk_each = interleaved_medians(
        bulk_contenders, lambda predict: bulk_seconds(predict, X_serve), args.repeats
    )
    with tempfile.TemporaryDirectory() as directory:
        directory = Path(directory)
        (directory / "vae.onnx").write_bytes(model.SerializeToString())
        joblib.dump(vae, directory / "vae.joblib")
        np.save(directory / "rows.npy", X_serve)
        processes = [
            fresh_process(kind, directory / "vae.onnx", directory / "rows.npy")
            for kind in ("onnxruntime", "onnxruntime_chunked")
        ]
        processes.append(fresh_process("skvae", directory / "vae.joblib", directory / "rows.npy"))
        onnx_size = (directory / "vae.onnx").stat().st_size
    return {
        "data": source,
        "train_rows": len(X_train),
        "epochs_run": vae.n_iter_,
        "onnx_file_mb": onnx_size / MB,
        "agreement": agreement,
        "one_row_latency_ms": {k: v * 1e3 for k, v in latency.items()},
        "one_row_latency_ms_each_round": {
            k: [t * 1e3 for t in v] for k, v in latency_each.items()
        },
        "one_row_speedup": latency["skvae"] / latency["onnxruntime"],
        "bulk_rows_per_second": {k: N_BULK / v for k, v in bulk.items()},
        "bulk_seconds_each_round": bulk_each,
        "bulk_speedup": bulk["skvae"] / bulk["onnxruntime"],
        "bulk_speedup_chunked": bulk["skvae"] / bulk["onnxruntime_chunked"],
        "serving_process": processes,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "load_average": os.getloadavg(),
        },
        "settings": {"repeats": args.repeats, "calls": args.calls, "chunk": CHUNK},
    }


def report(results):
    latency, bulk = results["one_row_latency_ms"], results["bulk_rows_per_second"]
    processes = {p["kind"]: p for p in results["serving_process"]}
    skvae, whole, chunks = (processes[k] for k in ("skvae", "onnxruntime", "onnxruntime_chunked"))
    lines = [
        f"data: {results['data']}, {results['train_rows']} training rows, "
        f"{results['epochs_run']} epochs; ONNX file {results['onnx_file_mb']:.2f} MB",
        f"| measure | skvae | onnxruntime | onnxruntime, {CHUNK}-row chunks |",
        "|---|---|---|---|",
        f"| one-row transform, ms (median) | {latency['skvae']:.3f} | "
        f"{latency['onnxruntime']:.3f} ({results['one_row_speedup']:.1f}x faster) | |",
        f"| 10,000-row transform, rows/s (median) | {bulk['skvae']:,.0f} | "
        f"{bulk['onnxruntime']:,.0f} ({results['bulk_speedup']:.2f}x) | "
        f"{bulk['onnxruntime_chunked']:,.0f} ({results['bulk_speedup_chunked']:.2f}x) |",
    ]
    for key, label, digits in [
        ("seconds_to_first_answer", "fresh process: start to first answer, s", 2),
        ("rss_after_one_row_mb", "fresh process: RSS after one row, MB", 0),
        ("peak_rss_after_bulk_mb", "fresh process: peak RSS after 10,000 rows, MB", 0),
    ]:
        lines.append(
            f"| {label} | {skvae[key]:.{digits}f} | {whole[key]:.{digits}f} | "
            f"{chunks[key]:.{digits}f} |"
        )
    lines.append(
        f"TensorFlow imported by the onnxruntime processes: "
        f"{whole['tensorflow_imported'] or chunks['tensorflow_imported']}; largest "
        "differences: " + ", ".join(f"{k} {v:.1e}" for k, v in results["agreement"].items())
    )
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="MNIST directory (IDX files)")
    parser.add_argument("--out", type=Path, help="write every number to this JSON file")
    parser.add_argument("--train", type=int, default=5000, help="training rows")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--calls", type=int, default=200, help="one-row calls per round")
    parser.add_argument(
        "--serve", nargs=3, metavar=("KIND", "MODEL", "ROWS"), help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.serve:
        print(json.dumps(serve(*args.serve)))
        return
    results = benchmark(args)
    print(report(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
