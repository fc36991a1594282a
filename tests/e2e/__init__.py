"""The browser test: JupyterLab with the extension, the welcome notebook run in Chromium.

It runs only when asked for by path (``make test-e2e``: ``pytest tests/e2e``); the regular
suite deselects it (see ``conftest.py``).
"""
