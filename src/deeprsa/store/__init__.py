"""The store: Zarr arrays plus a JSON manifest, content-keyed, resumable, atomic, no pickle.

:class:`Store` holds every array a run makes (activations, RDMs, comparisons)
under a content key; :meth:`Store.select` is the one query every stage uses.
"""

from ._keys import content_key, versions
from ._store import FORMAT_VERSION as FORMAT_VERSION
from ._store import MANIFEST as MANIFEST
from ._store import Store, open_store

__all__ = ["Store", "content_key", "open_store", "versions"]
