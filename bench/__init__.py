"""Benchmarks (run as modules: ``python -m bench.memory_scaling``, ``python -m bench.gpu_mc_throughput``)."""
