"""Peak memory of one skvae fit on a uint8 memmap, measured in a fresh process.

A fresh process starts from a known baseline, which a process that has
already fitted other models does not. The memory section of
``benchmarks.run`` starts it as ``python -m benchmarks.memory_worker`` and
reads the JSON line it prints. It imports skvae only, not the harness, so
that the baseline holds no more than a user's fit needs.
"""

import argparse
import json
import threading
import time

import numpy as np

from skvae import VariationalAutoencoder

MB = 2**20
_STATUS_FIELDS = ("RssAnon", "RssFile", "VmHWM", "VmRSS")


def read_status():
    """Memory fields of /proc/self/status in bytes (Linux only)."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in _STATUS_FIELDS:
                values[name] = int(rest.split()[0]) * 1024
    return values


class PeakSampler(threading.Thread):
    """Polls /proc/self/status and keeps the peak of each field."""

    def __init__(self, interval=0.005):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = read_status()
        self._done = threading.Event()

    def run(self):
        while not self._done.wait(self.interval):
            for name, value in read_status().items():
                self.peak[name] = max(self.peak[name], value)

    def stop(self):
        self._done.set()
        self.join()
        return self.peak


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memmap", required=True, help="uint8 file of flattened images")
    parser.add_argument("--side", type=int, required=True, help="image height and width")
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--filters", type=int, nargs="+", required=True)
    parser.add_argument("--strides", type=int, nargs="+", required=True)
    parser.add_argument("--copy", action="store_true", help="fit on a float32 copy instead")
    return parser.parse_args(argv)


def main(argv=None):
    """Fit on the memmap and print peak memory as JSON."""
    args = parse_args(argv)
    images = np.memmap(args.memmap, dtype=np.uint8, mode="r").reshape(-1, args.side**2)
    vae = VariationalAutoencoder(
        image_shape=(args.side, args.side),
        epochs=1,
        conv_filters=tuple(args.filters),
        conv_strides=tuple(args.strides),
        batch_size=args.batch_size,
        random_state=0,
    )
    before = read_status()
    sampler = PeakSampler()
    sampler.start()
    start = time.perf_counter()
    if args.copy:
        # The control: what fit would cost if it made a float copy first.
        vae.fit(np.asarray(images, dtype=np.float32) / np.float32(255))
    else:
        vae.fit(images)
    seconds = time.perf_counter() - start
    peak = sampler.stop()
    print(json.dumps(dict(before=before, peak=peak, fit_seconds=seconds)))


if __name__ == "__main__":
    main()
