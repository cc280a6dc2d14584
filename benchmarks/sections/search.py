"""Section 5: hyper-parameter search with joblib and dask."""

import math

import joblib
import numpy as np
from sklearn.model_selection import GridSearchCV

from benchmarks.data import repeat_rows
from benchmarks.harness import import_skvae, local_cluster, skvae_estimator, timed


def bench_search(sizes, images, report):
    """GridSearchCV wall time with n_jobs=1, n_jobs=2 and on a dask LocalCluster."""
    X = repeat_rows(images, sizes.n_search).reshape(sizes.n_search, -1)

    def search(n_jobs):
        estimator = skvae_estimator(sizes, epochs=sizes.search_epochs, random_state=0)
        return GridSearchCV(estimator, sizes.search_grid, cv=3, n_jobs=n_jobs).fit(X)

    # Start and warm the worker pool first: the timing is about the fits.
    joblib.Parallel(n_jobs=2)(joblib.delayed(import_skvae)() for _ in range(2))
    seconds, scores = {}, {}
    for n_jobs in (1, 2):
        seconds[n_jobs], result = timed(lambda n_jobs=n_jobs: search(n_jobs))
        scores[n_jobs] = result.cv_results_["mean_test_score"]
    n_fits = 3 * math.prod(len(v) for v in sizes.search_grid.values()) + 1
    report.add("5 search", f"GridSearchCV n_jobs=1 ({n_fits} fits)", seconds[1], "s")
    report.add(
        "5 search",
        "GridSearchCV n_jobs=2 (ratio: speed-up over n_jobs=1)",
        seconds[2],
        "s",
        reference=seconds[1],
        ratio=seconds[1] / seconds[2],
    )
    report.details["search_score_difference_1_vs_2_jobs"] = float(
        np.max(np.abs(scores[1] - scores[2]))
    )
    try:
        import distributed  # noqa: F401  (the cluster below needs it)
    except ImportError:
        report.details["dask"] = "dask.distributed not installed"
        return
    if not sizes.use_dask:
        return
    with local_cluster(2):
        with joblib.parallel_backend("dask"):
            dask_seconds, _ = timed(lambda: search(-1))
    report.add(
        "5 search",
        "GridSearchCV on dask LocalCluster, 2 workers x 1 thread (vs n_jobs=1)",
        dask_seconds,
        "s",
        reference=seconds[1],
        ratio=seconds[1] / dask_seconds,
    )
