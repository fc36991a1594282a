"""The model gallery: versions, aliases, cards, metrics, and safe artifact formats.

:mod:`lepton_lab.gallery.artifacts` saves a fitted model without pickle (skops, plus
safetensors for PyTorch networks) and loads it without running code from the file;
:mod:`lepton_lab.gallery.loaded` wraps a loaded model with its input signature.
"""
