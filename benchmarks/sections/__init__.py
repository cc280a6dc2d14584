"""The sections of the report, one module each, in the order ``benchmarks.run`` runs them.

Each exposes ``bench_<name>(sizes, ..., report)``, which adds its rows to the
report; see benchmarks/README.md for what each number means.
"""
