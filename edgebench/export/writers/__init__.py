"""One writer per export format, named in the `FORMATS` table; the pipeline wraps each write once. The interface
and the registry are in `base`, which the writer modules import (no cycle through this package)."""

from edgebench.export.writers.base import ArtifactWriter, Log, Written, open_writer

__all__ = ["ArtifactWriter", "Log", "Written", "open_writer"]
