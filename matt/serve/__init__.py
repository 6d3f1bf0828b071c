"""Serving: the defended classifier behind Triton Inference Server (``matt-serve``).

``repository`` writes a Triton model repository whose Python-backend models
(``triton_model.py``, logic in ``handler`` and ``pictures``) call :class:`matt.runtime.Pipeline`;
``tritonserver`` runs the binary of the ``nvidia-pytriton`` wheel on it; ``client`` queries it
with ``tritonclient``. Nothing here is imported by the package root: the client and the server
need the ``serve`` extra.
"""
