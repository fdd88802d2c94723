"""`dev check-structure`: the tree passes, and a planted upward import or circle fails it."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "dev_tools" / "check_structure.py"


def _load():
    spec = importlib.util.spec_from_file_location("check_structure", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def _copy_tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(REPO_ROOT / "src" / "ledgerlearn", src / "ledgerlearn",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return src


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_the_tree_passes():
    run = subprocess.run([sys.executable, str(SCRIPT), str(REPO_ROOT / "src")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no circle, no upward import" in run.stdout


def test_a_planted_upward_import_fails(tmp_path):
    src = _copy_tree(tmp_path)
    # identity is the lowest layer; a lazy import of the ledger from it runs upward
    _append(src / "ledgerlearn" / "identity" / "signing.py",
            "\n\ndef _planted():\n    from ledgerlearn.ledger.network.network import PEERS\n"
            "    return PEERS\n")
    run = subprocess.run([sys.executable, str(SCRIPT), str(src)], capture_output=True, text=True)
    assert run.returncode == 1
    assert ("upward import: ledgerlearn.identity.signing (layer ledgerlearn.identity) imports "
            "ledgerlearn.ledger.network.network") in run.stdout


def test_a_planted_circle_fails(tmp_path):
    src = _copy_tree(tmp_path)
    # two modules of one layer importing each other: no upward import, but a circle
    _append(src / "ledgerlearn" / "learning" / "models.py",
            "\nfrom ledgerlearn.learning import weights as _planted  # noqa\n")
    _append(src / "ledgerlearn" / "learning" / "weights.py",
            "\nimport ledgerlearn.learning.models  # noqa\n")
    problems = _load().check(src)
    assert [p for p in problems if "upward" in p] == []
    circles = [p for p in problems if p.startswith("import circle:")]
    assert len(circles) == 1
    assert "ledgerlearn.learning.models -> ledgerlearn.learning.weights" in circles[0]


def test_type_checking_imports_are_exempt_and_lazy_ones_count(tmp_path):
    src = tmp_path / "src"
    (src / "ledgerlearn" / "identity").mkdir(parents=True)
    (src / "ledgerlearn" / "ledger").mkdir()
    for package in ("ledgerlearn", "ledgerlearn/identity", "ledgerlearn/ledger"):
        (src / package / "__init__.py").write_text('"""x"""\n')
    (src / "ledgerlearn" / "identity" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from ledgerlearn.ledger import b\n")
    (src / "ledgerlearn" / "ledger" / "b.py").write_text("import ledgerlearn.identity.a\n")
    check = _load().check
    assert check(src) == []
    (src / "ledgerlearn" / "identity" / "a.py").write_text(
        "def f():\n    from ledgerlearn.ledger import b\n    return b\n")
    problems = check(src)
    assert any("upward import: ledgerlearn.identity.a" in p for p in problems)
    assert any(p.startswith("import circle:") for p in problems)
