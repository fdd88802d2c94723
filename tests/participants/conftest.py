"""The participants' tests run against the small network behind a gateway of tests/gateway."""

from __future__ import annotations

from gateway.conftest import gateway  # noqa: F401 (the module-scoped fixture)
