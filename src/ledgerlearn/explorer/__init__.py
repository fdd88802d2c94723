"""The ledger explorer: `ledgerlearn explore RUN_DIR` serves a local web page of a run.

``source`` reads a run directory (or a live embedded network's folder) strictly read-only:
the world state and blocks of a peer's SQLite copy, and ``summary.json`` / ``dag.json`` when
the run has written them. ``blocks`` turns stored blocks into rows a person can read.
``server`` serves the page (``static/``, with its vendored front-end libraries) and the JSON
API on 127.0.0.1 only. See docs/explorer.md.
"""
