"""Content-addressed storage: IPFS CIDs, local and Kubo stores, weights files, fragments.

`LocalStore` keeps IPFS blocks in a folder and gives the CIDs Kubo's `ipfs add` gives;
`KuboStore` (extra `ledgerlearn[ipfs]`, in `ledgerlearn.storage.kubo`) runs a real Kubo
node in a child process. Weights (`storage.weights`) and encrypted validation fragments
(`storage.fragments`) are the payloads the roles put into them.
"""

from ledgerlearn.storage.errors import (
    ContentIntegrityError,
    ContentNotFoundError,
    ContentTooLargeError,
    InvalidCIDError,
    StorageError,
    StorageTimeoutError,
)
from ledgerlearn.storage.importer import compute_cid
from ledgerlearn.storage.local import LocalStore, default_store_dir
from ledgerlearn.storage.store import ContentStore

__all__ = [
    "ContentIntegrityError",
    "ContentNotFoundError",
    "ContentStore",
    "ContentTooLargeError",
    "InvalidCIDError",
    "LocalStore",
    "StorageError",
    "StorageTimeoutError",
    "compute_cid",
    "default_store_dir",
]
