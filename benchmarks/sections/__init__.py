"""The sections of the report, one module each.

Each exposes ``bench_<module>(sizes, ..., report)``, which adds its rows to the
report; benchmarks/README.md says what each number means.
"""
