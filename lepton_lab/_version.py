"""The version of Lepton Lab: one place, read by hatch at build time and by the code.

It lives apart from the package root so that a module that needs the version (the CLI's
``--version``, the OpenAPI document, a training run's record) does not import the public
facade, which imports everything lazily (tests/test_layers.py keeps it that way).
"""

__version__ = "0.1.0"
