"""The defended model in the tools ML users already hold.

* :mod:`matt.integrations.art`: an Adversarial Robustness Toolbox ``BlackBoxClassifier``
  around a :class:`~matt.runtime.Pipeline`, so ART's attacks query MATT as they would any
  black box (``pip install 'matt[eval]'``).
* :mod:`matt.integrations.torch`: a torch ``nn.Module`` around a pipeline, to compose the
  defended model (or its purifier) with torch code.

Import the submodule you need; this package imports neither library.
"""
