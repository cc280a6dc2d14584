"""Benchmark skvae against a hand-written Keras 3 VAE and against PCA.

Run from the repository root::

    python -m benchmarks.run --data ../shared/data/mnist --out results.json
    python -m benchmarks.run --smoke --out smoke.json       # tiny, synthetic
    python -m benchmarks.run --data DIR --out r.json --experiments
    python -m benchmarks.run --data DIR --out r.json --sections fit --fit-epochs 1

The script prints a Markdown table and writes every number (and the sizes
used) to JSON. See benchmarks/README.md for what each number means.
"""

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import keras
import tensorflow as tf

from benchmarks.data import load_images
from benchmarks.harness import FULL, SMOKE, Report, timed
from benchmarks.sections.cluster import bench_cluster
from benchmarks.sections.efficiency import bench_efficiency
from benchmarks.sections.experiments import bench_experiments
from benchmarks.sections.fit import bench_fit
from benchmarks.sections.inference import bench_inference
from benchmarks.sections.memory import bench_memory
from benchmarks.sections.quality import bench_quality
from benchmarks.sections.scaling import bench_scaling
from benchmarks.sections.search import bench_search

SECTIONS = ("fit", "inference", "quality", "scaling", "memory", "search", "efficiency", "cluster")


def machine_description():
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line),
            platform.processor(),
        )
    except OSError:
        model = platform.processor()
    return dict(
        cpu=model,
        cpus=os.cpu_count(),
        python=platform.python_version(),
        tensorflow=tf.__version__,
        keras=keras.__version__,
        gpus=len(tf.config.list_physical_devices("GPU")),
    )


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="directory with MNIST-style IDX files (else synthetic)")
    parser.add_argument("--out", default="results.json", help="JSON file to write")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks it runs")
    parser.add_argument(
        "--experiments", action="store_true", help="also time XLA, bfloat16, op determinism"
    )
    parser.add_argument(
        "--no-dask", action="store_true", help="skip the dask search and the cluster section"
    )
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--fit-epochs",
        type=int,
        help=f"epochs per fit in the fit section (default {FULL.fit_epochs}; 1 weighs fixed cost)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    if args.no_dask:
        sizes = dataclasses.replace(sizes, use_dask=False)
    if args.fit_epochs is not None:
        if args.fit_epochs < 1:
            raise SystemExit(f"--fit-epochs: at least 1, got {args.fit_epochs}")
        sizes = dataclasses.replace(sizes, fit_epochs=args.fit_epochs)
    images, _, data_description = load_images(args.data)
    report = Report()
    section_seconds = {}
    load_at_start = os.getloadavg()
    started = time.perf_counter()

    selected = args.sections.split(",") + (["experiments"] if args.experiments else [])
    unknown = set(selected) - {*SECTIONS, "experiments"}
    if unknown:
        raise SystemExit(f"--sections: unknown {sorted(unknown)}; choose from {SECTIONS}")

    def section(name, function, *section_args):
        if name not in selected:
            return None
        print(f"## {name}", flush=True)
        seconds, result = timed(lambda: function(sizes, *section_args))
        section_seconds[name] = seconds
        return result

    # Inference and efficiency reuse the model and the throughput of the fit section.
    vae, _, fit_throughput = section("fit", bench_fit, images, report) or (None, None, None)
    if vae is None and {"inference", "efficiency", "cluster"} & set(selected):
        raise SystemExit("--sections: inference, efficiency and cluster need the fit section too")
    section("inference", bench_inference, images, vae, report)
    section("quality", bench_quality, images, report)
    section("scaling", bench_scaling, images, report)
    section("memory", bench_memory, images, report)
    section("search", bench_search, images, report)
    section("efficiency", bench_efficiency, vae, fit_throughput, report)
    section("cluster", bench_cluster, images, vae, report)
    section("experiments", bench_experiments, images, report)

    results = dict(
        date=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        machine=machine_description(),
        load_average_at_start=load_at_start,
        load_average_at_end=os.getloadavg(),
        data=data_description,
        smoke=args.smoke,
        sizes=dataclasses.asdict(sizes),
        total_seconds=time.perf_counter() - started,
        section_seconds=section_seconds,
        rows=report.rows,
        details=report.details,
    )
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    print()
    print(
        f"{results['date']}, {results['machine']['cpu']} ({results['machine']['cpus']} CPUs), "
        f"load average {', '.join(f'{x:.2f}' for x in results['load_average_at_end'])}, "
        f"total {results['total_seconds']:.0f} s, data: {data_description}"
    )
    print()
    print(report.markdown())
    return results


if __name__ == "__main__":
    main()
