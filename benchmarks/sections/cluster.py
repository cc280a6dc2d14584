"""Section 7: inference on a dask array on a LocalCluster of 1 and 2 worker processes."""

import tempfile

import numpy as np

from benchmarks.data import repeat_rows, scaled
from benchmarks.harness import compare, local_cluster


def bench_cluster(sizes, images, vae, report):
    """Rows per second of ``skvae.dask`` transform and score_samples, 1 and 2 workers.

    The images (float32) lie on disk as a dask ``npy`` stack, so each worker reads its
    own blocks and no data passes through the scheduler. Each call ships the
    model to the workers and traces its functions there anew, as any user's
    call does; that fixed cost is part of the timing. The in-memory methods
    in this process, on all its cores, are the reference.
    """
    try:
        import dask.array as da
        import distributed  # noqa: F401  (the cluster below needs it)

        from skvae import dask as skvae_dask
    except ImportError:
        report.details["cluster"] = "dask.distributed not installed"
        return
    if not sizes.use_dask:
        return
    X = scaled(repeat_rows(images, sizes.n_cluster)[..., None])
    in_memory = compare(
        {"transform": lambda: vae.transform(X), "score_samples": lambda: vae.score_samples(X)},
        sizes.repeats,
    )
    with tempfile.TemporaryDirectory() as stack:
        da.to_npy_stack(stack, da.from_array(X, chunks=(sizes.cluster_chunk, *X.shape[1:])))
        blocks = da.from_npy_stack(stack, mmap_mode="r")
        for n_workers in (1, 2):
            with local_cluster(n_workers):
                seconds = compare(
                    {
                        method: lambda m=method: getattr(skvae_dask, m)(vae, blocks).compute()
                        for method in ("transform", "score_samples")
                    },
                    sizes.repeats,
                )
            for method, value in seconds.items():
                report.add(
                    "7 cluster",
                    f"skvae.dask.{method}, {sizes.n_cluster} images, {n_workers} "
                    "worker(s) x 1 thread (vs in memory, this process)",
                    sizes.n_cluster / value,
                    "samples/s",
                    reference=sizes.n_cluster / in_memory[method],
                    ratio=in_memory[method] / value,
                )
    report.details["cluster_rows_per_block"] = sizes.cluster_chunk
    report.details["cluster_blocks"] = int(np.ceil(sizes.n_cluster / sizes.cluster_chunk))
