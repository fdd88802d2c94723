"""Import fabric-chaincode-python without letting it take over the process's logging.

Importing the library (``fabric_shim.logging``, pulled in by the shim and by the contract
API) calls ``logging.basicConfig(level=DEBUG)``: the root logger drops to DEBUG and gains a
stderr handler, so grpc, asyncio and our own modules start printing debug lines. The library
also logs several lines per stream message at INFO and WARNING ("-->> Look out!") on the
``asyncio`` logger. We undo the first and filter the second, keeping its errors.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

_SHIM_LOGGING_MODULE = "fabric_chaincode_python.fabric_shim.logging"
# The format string the library passes to basicConfig: how we recognise its handler when the
# library was imported before we could take a snapshot.
_LIBRARY_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class _DropLibraryChatter(logging.Filter):
    """Drops records below ERROR that come from the library's own source files."""

    def __init__(self, package_dir: str) -> None:
        super().__init__()
        self._package_dir = package_dir

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not record.pathname.startswith(self._package_dir)


def _is_library_handler(handler: logging.Handler) -> bool:
    formatter = handler.formatter
    return (
        type(handler) is logging.StreamHandler
        and formatter is not None
        and formatter._fmt == _LIBRARY_FORMAT
    )


def import_chaincode_library() -> None:
    """Import fabric-chaincode-python, then restore the root logger and mute its chatter.

    Safe to call many times. When another module imported the library first, the handler it
    installed is recognised by its format and removed, and the root level goes back to
    Python's default (WARNING).
    """
    root = logging.getLogger()
    if _SHIM_LOGGING_MODULE in sys.modules:
        library_handlers = [h for h in root.handlers if _is_library_handler(h)]
        for handler in library_handlers:
            root.removeHandler(handler)
        if library_handlers and root.level == logging.DEBUG:
            root.setLevel(logging.WARNING)
    else:
        level, handlers = root.level, list(root.handlers)
        __import__(_SHIM_LOGGING_MODULE)
        root.setLevel(level)
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)

    import fabric_chaincode_python

    # Not resolved: code objects carry the path the module was imported by.
    package_dir = str(Path(fabric_chaincode_python.__file__).parent)
    library_logger = sys.modules[_SHIM_LOGGING_MODULE].LOGGER
    if not any(isinstance(f, _DropLibraryChatter) for f in library_logger.filters):
        library_logger.addFilter(_DropLibraryChatter(package_dir))
