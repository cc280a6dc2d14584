"""Section 4: memory of fits on uint8 memmaps, each in a fresh process."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.data import repeat_rows
from benchmarks.memory_worker import MB

# The worker runs as a module from here, so that it imports the same
# checkout of benchmarks and skvae as this process.
REPO_ROOT = Path(__file__).resolve().parents[2]


def run_memmap_worker(path, sizes, side, copy):
    command = [
        sys.executable,
        "-m",
        "benchmarks.memory_worker",
        "--memmap",
        str(path),
        "--side",
        str(side),
        "--batch-size",
        str(sizes.memmap_batch_size),
        "--filters",
        *map(str, sizes.memmap_conv_filters),
        "--strides",
        *map(str, sizes.memmap_conv_strides),
    ] + (["--copy"] if copy else [])
    completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"memmap worker failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def bench_memory(sizes, images, report):
    """Peak anonymous memory of fits on uint8 memmaps of two sizes, each in a fresh process."""
    side = images.shape[1]
    modes = [("memmap", False)]
    if sizes.memmap_control:
        modes.append(("float32 copy (control)", True))
    measured = {}
    with tempfile.TemporaryDirectory() as directory:
        for n in sizes.memmap_sizes:
            path = Path(directory) / f"images-{n}.u8"
            mapped = np.memmap(path, dtype=np.uint8, mode="w+", shape=(n, side * side))
            mapped[:] = repeat_rows(images.reshape(len(images), -1), n)
            mapped.flush()
            del mapped
            for label, copy in modes:
                measured[label, n] = run_memmap_worker(path, sizes, side, copy)
    small, large = sizes.memmap_sizes
    for label, _ in modes:
        peaks = {n: measured[label, n]["peak"]["RssAnon"] for n in (small, large)}
        for n in (small, large):
            result = measured[label, n]
            report.add(
                "4 memory",
                f"peak RssAnon, fit on {label}, {n} images "
                f"({n * side * side / MB:.0f} MB uint8; peak RssFile "
                f"{result['peak']['RssFile'] / MB:.0f} MB)",
                peaks[n] / MB,
                "MB",
            )
        report.add(
            "4 memory",
            f"peak RssAnon growth, {label}, {small} -> {large} images",
            f"{100 * (peaks[large] / peaks[small] - 1):+.1f}%",
            "",
            ratio=peaks[large] / peaks[small] - 1,
            goal="< 10%" if not label.endswith("(control)") else None,
        )
    report.details["memmap"] = {f"{label} {n}": v for (label, n), v in measured.items()}
