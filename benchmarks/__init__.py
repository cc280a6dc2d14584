"""Benchmarks of skvae against a hand-written Keras VAE and against PCA."""
