"""``skvae._distribute``, and a real fit by two ``MultiWorkerMirroredStrategy`` workers.

The two-worker test runs one script in two processes, as a user runs it on
two machines (``TF_CONFIG`` names the cluster and the process's place in
it), and compares them with each other and with one process that trains on
the same global batches.

TensorFlow's gRPC server listens on every interface whatever address
``TF_CONFIG`` gives, so the workers run inside a network namespace of their
own (``unshare --net``), whose only interface is the loopback: their servers
can be reached at 127.0.0.1 in that namespace and from nowhere else.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import joblib
import numpy as np
import pytest
import tensorflow as tf

import skvae
from skvae import _distribute, _seeding, _training
from skvae._seeding import Seeds

# tf.distribute strategies and tf.data pipelines: Keras' TensorFlow backend.
pytestmark = pytest.mark.tensorflow_only

# Runs inside the namespace: raises the loopback, gives each worker a free
# port on it and a TF_CONFIG, and waits for them (all killed at the deadline).
_LAUNCHER = textwrap.dedent(
    """
    import fcntl, json, os, socket, struct, subprocess, sys

    n_workers, deadline, out, script = int(sys.argv[1]), float(sys.argv[2]), *sys.argv[3:]
    assert [name for _, name in socket.if_nameindex()] == ["lo"], "not in a private namespace"
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(control, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(control, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(n_workers)]
    addresses = [f"127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]
    for sock in sockets:
        sock.close()
    workers = []
    try:
        for index in range(n_workers):
            config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
            with open(os.path.join(out, f"worker{index}.log"), "w") as log:
                workers.append(subprocess.Popen(
                    [sys.executable, "-c", script, out],
                    env={**os.environ, "TF_CONFIG": json.dumps(config)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ))
        codes = [worker.wait(timeout=deadline) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()  # a no-op for one that has exited
    sys.exit(max(codes))
    """
)

# A user's script, which every worker runs as it is, with a spy on the rows
# each process gathers.
_WORKER_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import joblib
    import numpy as np
    from sklearn.datasets import load_digits
    from skvae import VariationalAutoencoder, _distribute

    EPOCHS = 8
    # learning_rate: the peak at which the loss curves below agree to 3% with
    # one process's (at 3e-3 the replicas' other sampling noise grows to 3.2%).
    PARAMS = dict(epochs=EPOCHS, batch_size=64, latent_dim=2, alpha=200.0, image_shape=(8, 8),
                  validation_fraction=0.2, conv_filters=(8, 16), conv_strides=(1, 2),
                  learning_rate=1e-3)

    def digits():
        return (load_digits().data[:600] / 16).astype(np.float32)

    def fit(strategy, random_state):
        X = digits()
        parts = []  # the rows of each batch this process gathers, in the first fit
        gather = _distribute.gathered_batch
        _distribute.gathered_batch = lambda X, rows, *args: (
            parts.append(sorted(rows.tolist())), gather(X, rows, *args))[1]
        try:
            vae = VariationalAutoencoder(
                distribute_strategy=strategy, random_state=random_state, **PARAMS
            ).fit(X)
        finally:
            _distribute.gathered_batch = gather
        first_fit = dict(vae.history_)
        # So small a step that the validation loss moves only by its sampling
        # noise: early stopping (patience 1) ends the continued fit early.
        vae.set_params(warm_start=True, learning_rate=1e-9, n_iter_no_change=1).fit(X)
        report = dict(first_fit=first_fit, history=vae.history_, n_iter=vae.n_iter_,
                      parts=parts, inference_seed=vae._inference_seed)
        return vae, report

    if __name__ == "__main__":
        import tensorflow as tf

        strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
        worker = strategy.cluster_resolver.task_id
        np.random.seed(1000 + worker)  # the workers' own draws differ
        vae, report = fit(strategy, random_state=None)
        if worker == 0:  # the chief saves the model
            joblib.dump(vae, f"{sys.argv[1]}/model.joblib")
        try:  # workers given different data must all refuse it
            VariationalAutoencoder(distribute_strategy=strategy).fit(digits()[: 100 + worker])
        except ValueError as error:
            report["mismatch"] = str(error)
        weights = [*vae.encoder_.get_weights(), *vae.decoder_.get_weights()]
        np.savez(f"{sys.argv[1]}/weights{worker}.npz", *weights)
        with open(f"{sys.argv[1]}/report{worker}.json", "w") as file:
            json.dump(report, file)
    """
)
_TIMEOUT = 240  # seconds for the whole cluster; the fit takes about 30 on 2 busy cores


def _private_network_namespaces():
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run(
        [unshare, "--net", "--map-root-user", "true"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


@pytest.fixture
def worker_script():
    namespace = {"__name__": "worker_script"}
    exec(_WORKER_SCRIPT, namespace)  # the very code the workers run
    return SimpleNamespace(**namespace)


def _expected_parts(seeds, n_samples, params, n_passes, n_replicas):
    """Per replica, every part of a global batch it may gather in ``n_passes`` passes.

    The rule restated from its specification: pass ``p`` orders the
    training rows by a generator seeded with ``(data seed, p)``, cuts them
    into global batches and each batch into equal parts (leaving out the
    rows beyond a multiple of the replicas); validation rows keep their
    order.
    """
    train, validation = _training.split_rows(n_samples, params["validation_fraction"], seeds.split)
    batch = params["batch_size"]
    orders = [np.random.default_rng([seeds.data, p]).permutation(train) for p in range(n_passes)]
    batches = [
        order[i : i + batch]
        for order in [validation, *orders]
        for i in range(0, len(order), batch)
    ]
    parts = [np.split(b[: len(b) - len(b) % n_replicas], n_replicas) for b in batches]
    return [{tuple(sorted(part[r].tolist())) for part in parts} for r in range(n_replicas)]


@pytest.mark.slow
@pytest.mark.skipif(
    not _private_network_namespaces(),
    reason="needs `unshare --net --map-root-user` to keep TensorFlow's servers off the network",
)
def test_two_workers_train_one_model_like_one_process(tmp_path, worker_script):
    package_root = str(Path(skvae.__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "OMP_NUM_THREADS": "1",  # two workers and this process share the cores
    }
    command = ["unshare", "--net", "--map-root-user", sys.executable, "-c", _LAUNCHER]
    command += ["2", str(_TIMEOUT), str(tmp_path), _WORKER_SCRIPT]
    # Its own process group, which the workers join: one kill ends them all.
    cluster = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        # One process, one replica, the workers' seeds: the same global batches.
        one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
        _, reference = worker_script.fit(one_device, np.random.RandomState(1000))
        code = cluster.wait(timeout=_TIMEOUT + 30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGKILL)
    logs = "\n".join(log.read_text()[-3000:] for log in sorted(tmp_path.glob("worker*.log")))
    assert code == 0, logs

    reports = [json.loads((tmp_path / f"report{w}.json").read_text()) for w in range(2)]
    weights = [np.load(tmp_path / f"weights{w}.npz") for w in range(2)]
    # One model: the same weights to the bit, the same history, the same
    # epoch at which early stopping ended the continued fit.
    for name in weights[0].files:
        np.testing.assert_array_equal(weights[0][name], weights[1][name])
    assert reports[0]["history"] == reports[1]["history"]
    epochs = worker_script.EPOCHS
    assert reports[0]["n_iter"] == reports[1]["n_iter"] < 2 * epochs
    # Worker 0's seeds on both workers; the reference drew the same ones.
    seeds_used = [report["inference_seed"] for report in (*reports, reference)]
    assert len(set(seeds_used)) == 1

    # Each worker gathered only its own half of every global batch, and the
    # reference whole global batches (the tail of each pass was prefetched
    # into the next one, hence a pass more).
    seeds = _seeding.draw_seeds(np.random.RandomState(1000))
    n_samples, params = len(worker_script.digits()), worker_script.PARAMS
    whole = _expected_parts(seeds, n_samples, params, epochs + 1, n_replicas=1)
    halves = _expected_parts(seeds, n_samples, params, epochs + 1, n_replicas=2)
    batches_run = len(reference["first_fit"]["loss"]) * 8  # 480 training rows, 64 a batch
    for report, own_parts in [
        (reference, whole[0]),
        (reports[0], halves[0]),
        (reports[1], halves[1]),
    ]:
        gathered = {tuple(part) for part in report["parts"]}
        assert gathered <= own_parts, "a process gathered rows that are not its own"
        assert len(gathered) >= batches_run, "a process skipped batches"

    # The replicas' sampling noise differs from one process's, and so does
    # the order of sums: the loss curves agree to 3% (they differ by about
    # 1%; the small KL term alone, by up to 15%).
    for curve in ("loss", "val_loss"):
        np.testing.assert_allclose(
            reports[0]["first_fit"][curve], reference["first_fit"][curve], rtol=0.03, err_msg=curve
        )

    for report in reports:
        assert "The workers' X differ in length" in report.get("mismatch", "")
    saved = joblib.load(tmp_path / "model.joblib")
    saved_weights = [*saved.encoder_.get_weights(), *saved.decoder_.get_weights()]
    for name, value in zip(weights[0].files, saved_weights, strict=True):
        np.testing.assert_array_equal(weights[0][name], value)


# Pieces, in this process ---------------------------------------------------


def test_outside_a_strategy_fit_gets_plain_datasets_of_one_pass():
    X = np.random.default_rng(0).random((10, 3)).astype(np.float32)
    common = dict(batch_size=4, sample_shape=(3,), scale=1.0, seed=0)
    inputs = _distribute.fit_inputs(X, np.arange(7), np.arange(7, 10), **common)
    assert set(inputs) == {"x", "validation_data"}
    assert inputs["x"].cardinality().numpy() == 2
    assert inputs["validation_data"].cardinality().numpy() == 1
    assert _distribute.fit_inputs(X, np.arange(10), [], **common)["validation_data"] is None


def test_under_a_strategy_fit_gets_endless_distributed_datasets_and_steps():
    X = np.random.default_rng(0).random((10, 3)).astype(np.float32)
    common = dict(batch_size=4, sample_shape=(3,), scale=1.0, seed=0)
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        inputs = _distribute.fit_inputs(X, np.arange(7), np.arange(7, 10), **common)
    assert inputs["steps_per_epoch"] == 2 and inputs["validation_steps"] == 1
    assert isinstance(inputs["x"], tf.distribute.DistributedDataset)
    iterator = iter(inputs["validation_data"])
    first, second = next(iterator), next(iterator)  # a second pass follows the first
    np.testing.assert_array_equal(first, X[7:])
    np.testing.assert_array_equal(second, X[7:])


@pytest.mark.parametrize(
    "n_rows, batch_size, message",
    [
        (1, 8, "1 training rows cannot give each of the 2 replicas in sync a row"),
        (8, 1, "batch_size=1 is not a multiple of the 2 replicas"),
        (8, 5, "batch_size=5 is not a multiple of the 2 replicas"),
    ],
)
def test_batches_the_replicas_cannot_share_equally_are_refused(n_rows, batch_size, message):
    two_replicas = SimpleNamespace(num_replicas_in_sync=2)
    with pytest.raises(ValueError, match=message):
        _distribute._distributed(
            two_replicas, np.zeros((n_rows, 2)), np.arange(n_rows), batch_size=batch_size
        )


def test_one_worker_keeps_its_own_seeds():
    seeds = Seeds(split=1, network=2, data=3, inference=2**31 - 2)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert _distribute.agreed_seeds(seeds, strategy, n_samples=10) == seeds
