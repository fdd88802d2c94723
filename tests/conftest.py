"""Shared fixtures: where the shared data lives, and the no-skip rule of CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """The shared data folder: $LEDGERLEARN_SHARED, else ../shared beside the repo."""
    env = os.environ.get("LEDGERLEARN_SHARED")
    path = Path(env) if env else REPO_ROOT.parent / "shared"
    return path if (path / "data").is_dir() else None


def _need(relative: str) -> Path:
    base = shared_dir()
    if base is None or not (base / relative).exists():
        pytest.skip(
            f"needs shared data '{relative}': set LEDGERLEARN_SHARED to the folder that holds "
            "data/ (../shared beside the repo by default)"
        )
    return base / relative


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    return _need("data/mnist.npz")


@pytest.fixture(scope="session")
def fabric_dir() -> Path:
    return _need("data/fabric")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (LEDGERLEARN_FORBID_SKIPS=1) a skipped test is a failure."""
    if os.environ.get("LEDGERLEARN_FORBID_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        reporter.write_line(f"LEDGERLEARN_FORBID_SKIPS: {skipped} test(s) skipped; failing.")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


#: The browser the `browser` tests drive (Debian's package: apt-get install chromium).
CHROMIUM = Path(os.environ.get("LEDGERLEARN_CHROMIUM", "/usr/bin/chromium"))


def browser_missing() -> str | None:
    """Why browser tests cannot run here (None when they can)."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


def ray_missing() -> str | None:
    """Why Ray tests cannot run here (None when they can)."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        return "Ray is not installed (pip install -e '.[compare]')"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests are deselected, never skipped, where there is no browser (CI installs
    one, .ci/run, so there they always run); Ray tests likewise where Ray is not installed."""
    for marker, missing in (("browser", browser_missing), ("ray", ray_missing)):
        if missing() is None:
            continue
        deselected = [item for item in items if item.get_closest_marker(marker)]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if not item.get_closest_marker(marker)]
