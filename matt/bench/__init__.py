"""``matt-bench``: latency, throughput and roofline of the defense, with plots.

Every row of a table is timed round-robin in the same run (:mod:`matt.bench.timing`), so the
ratios the README quotes hold on a shared machine; the figures of the benchmark issue are
computed with a pass / miss verdict (:mod:`matt.bench.figures`). Entry points:
:func:`matt.bench.run.run_benchmark` and the ``matt-bench`` command (:mod:`matt.bench.cli`).
"""
