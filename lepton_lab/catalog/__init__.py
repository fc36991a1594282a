"""The shared dataset catalog: versioned, profiled, searchable datasets of teams.

The client exposes it as ``ll.datasets``; this package is named apart so that the
namespace and the package never shadow each other.
"""

from lepton_lab.catalog.info import DatasetInfo, VersionInfo
from lepton_lab.catalog.service import DatasetService

__all__ = ["DatasetInfo", "DatasetService", "VersionInfo"]
