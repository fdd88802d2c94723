"""Importing fabric-chaincode-python must not change the process's logging."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import logging
{before}
root = logging.getLogger()
print(logging.getLevelName(root.level), len(root.handlers))
"""


def _run(before: str) -> str:
    code = PROBE.format(before=before)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_library_alone_sets_the_root_logger_to_debug() -> None:
    assert _run("import fabric_chaincode_python.fabric_contract_api") == "DEBUG 1"


def test_import_chaincode_library_restores_the_root_logger() -> None:
    helper = "from ledgerlearn.ledger.endorse.shim_logging import import_chaincode_library\n"
    assert _run(helper + "import_chaincode_library()") == "WARNING 0"
    # Imported by someone else first: the library's handler is recognised and removed.
    late = "import fabric_chaincode_python.fabric_contract_api\n" + helper
    assert _run(late + "import_chaincode_library()") == "WARNING 0"
    # A handler and level the program set itself are kept.
    own = "logging.basicConfig(level=logging.INFO, format='%(message)s')\n" + helper
    assert _run(own + "import_chaincode_library()") == "INFO 1"


def test_library_chatter_is_dropped_and_its_errors_kept() -> None:
    from fabric_chaincode_python.fabric_shim import handler
    from fabric_chaincode_python.fabric_shim.logging import LOGGER

    from ledgerlearn.ledger.endorse.shim_logging import import_chaincode_library

    import_chaincode_library()
    records = [
        LOGGER.makeRecord(LOGGER.name, level, handler.__file__, 1, "m", (), None)
        for level in (20, 30, 40)
    ]
    assert [all(f.filter(r) for f in LOGGER.filters) for r in records] == [False, False, True]
    outside = LOGGER.makeRecord(LOGGER.name, 20, "/somewhere/else.py", 1, "m", (), None)
    assert all(f.filter(outside) for f in LOGGER.filters)
