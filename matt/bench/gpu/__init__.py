"""``python -m matt.bench.gpu`` (``benchmarks/gpu.sh``, ``matt-bench gpu``): one run on a lent
CUDA machine, inside a hard wall-clock budget (8 minutes by default).

It runs the ``gpu``-marked tests, then times, per (batch, image size) table: MATT on the
runtime's torch engine (one CUDA stream per engine) for every K, MATT + classifier at the
largest K, the classifier alone through the same engine, and DISCO's official formulation on
the same device; CUDA events around every call, medians and interquartile ranges. It writes
one JSON and one Markdown file. It needs torch and numpy only (matt importable from the
tree), so it runs on a machine with nothing else installed. ``--dry-run`` does the whole flow
on the CPU with tiny counts, so the script is tested where no GPU is.

Nothing here imports torch at module level: the refusal on a machine without CUDA is quick.
"""
