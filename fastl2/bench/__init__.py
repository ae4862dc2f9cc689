"""Benchmark machinery: ``fastl2 bench`` and the scripts of ``benchmarks/``.

The top layer of fastl2: it may import everything below it, nothing in fastl2 below it
imports it. Modules, from the bottom:

* :mod:`.machine` — the machine: :func:`machine_info`, :func:`machine_scaling` (memory
  triad, SGEMM), :class:`PeakRSS` (the RSS probe), :func:`blas_limit` (the BLAS thread
  limiter), the CPU other processes take (:func:`cpu_snapshot`, :func:`contention`);
* :mod:`.timing` — :func:`steady` (the steady-state summary: warm-up apart, median and
  spread of the rest), the epoch timers, timed repeated calls;
* :mod:`.harness` — kernels and their NumPy twins driven directly (SGD epochs, ALS
  half-sweeps, dense top-N, the cluster's block cuts), :func:`bench_sgd`;
* :mod:`.rows` — the report's rows, their quality figures and :func:`ratios`;
* :mod:`.peers` — the peer runner (implicit, scikit-surprise, LensKit, LIBMF);
* :mod:`.suite` — the ``fastl2 bench`` suite: sizes, data, one function per kernel and
  :func:`run_suite`, which returns the report (schema ``fastl2-bench/1``, see
  docs/benchmarks.md).
"""

from .._threads import max_threads, thread_limit
from .harness import bench_sgd, format_sgd_report
from .machine import PeakRSS, blas_controlled, blas_limit, machine_info, machine_scaling
from .rows import ratios
from .suite import KERNELS, OPTIONAL_KERNELS, SCHEMA, SIZES, make_data, run_suite
from .timing import epoch_timer, steady

__all__ = ["KERNELS", "OPTIONAL_KERNELS", "PeakRSS", "SCHEMA", "SIZES", "bench_sgd",
           "blas_controlled", "blas_limit", "epoch_timer", "format_sgd_report",
           "machine_info", "machine_scaling", "make_data", "max_threads", "ratios",
           "run_suite", "steady", "thread_limit"]
