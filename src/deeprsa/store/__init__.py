"""The store: Zarr arrays plus a JSON manifest, content-keyed, resumable, atomic, no pickle.

:class:`Store` holds every array a run makes (activations, RDMs, comparisons)
under a content key; :meth:`Store.select` is the one query every stage uses.
Every chunk is checksummed and verified when read; :func:`check_store` and
:func:`repair_store` find and mend damage (``deeprsa store check/repair``).
"""

from ._check import CheckReport, check_store, repair_store
from ._errors import (
    IntegrityError,
    ManifestError,
    ReadOnlyStoreError,
    StoreError,
    StoreFormatError,
    StoreWriteError,
)
from ._keys import content_key, versions
from ._store import FORMAT_VERSION as FORMAT_VERSION
from ._store import MANIFEST as MANIFEST
from ._store import Store, open_store

__all__ = ["CheckReport", "IntegrityError", "ManifestError", "ReadOnlyStoreError", "Store",
           "StoreError", "StoreFormatError", "StoreWriteError", "check_store", "content_key",
           "open_store", "repair_store", "versions"]
