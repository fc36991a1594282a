"""``python -m lepton_lab.cli``: the ``lepton-lab`` command (used to start runners)."""

from lepton_lab.cli import main

main()
