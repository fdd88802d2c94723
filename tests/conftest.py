"""Shared fixtures: where the shared data lives, the no-skip rule of CI, and the deselection
of ``fabric`` tests where no Fabric release is at hand."""

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


def fabric_home() -> Path | None:
    """$FABRIC_HOME when it is laid out as a Fabric release, else None."""
    from ledgerlearn.fabric.localnet import release_problems

    home = os.environ.get("FABRIC_HOME")
    return None if release_problems(home) else Path(home).resolve()


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
    """Tests that need what this machine lacks are deselected, never skipped (CI fails on
    skips): ``browser`` tests without a browser (CI installs one, .ci/run, so there they
    always run), ``fabric`` tests without a Fabric release in FABRIC_HOME, ``ray`` tests
    where Ray is not installed."""
    missing = [marker for marker, lacking in (("browser", browser_missing() is not None),
                                              ("fabric", fabric_home() is None),
                                              ("ray", ray_missing() is not None)) if lacking]
    if not missing:
        return
    deselected = [item for item in items
                  if any(item.get_closest_marker(marker) for marker in missing)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        kept = set(map(id, deselected))
        items[:] = [item for item in items if id(item) not in kept]
