"""Reproducible benchmarks of the enhancer against its peers, measured in the same run.

``python -m benchmarks.run`` (rate-distortion-perception figures), ``python -m benchmarks.speed``
(seconds, FLOPs, peak memory), ``python -m benchmarks.plot`` and ``python -m benchmarks.tables``
(figures and README tables from the JSON in ``benchmarks/results``). See ``benchmarks/README.md``.
"""
