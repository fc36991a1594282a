"""The Jupyter Server extension: Lepton Lab's REST API under ``{base_url}lepton/api/v1/``."""

from lepton_lab.server.app import LeptonLabApp

__all__ = ["LeptonLabApp"]
