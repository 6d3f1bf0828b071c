"""MATT: random local implicit purification against query-based attacks.

The pipeline, one folder a step: ``models`` → ``defense`` → ``training`` → ``export`` →
``calibration`` → ``runtime`` → ``serve``, with ``attacks`` and ``evaluation`` beside.
"""

__version__ = "0.1.0"
