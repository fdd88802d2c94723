"""An interrupted run can be rerun: Ctrl-C exits 130 without a traceback, `run` names
--replace, `demo` replaces an earlier or interrupted demo."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.experiments.test_runner import TINY

from ledgerlearn.cli import main
from ledgerlearn.experiments.runner import RunDirectoryError, prepare_directory

SMALL = TINY.replace(
    'modes = ["centralized", "fedavg", "gossip-baseline", "federation", "gossip"]',
    'modes = ["fedavg", "centralized"]\nworkers = 2',
).replace("rounds = 2", "rounds = 1")


def _interrupted_run(tmp_path: Path) -> tuple[Path, Path, subprocess.CompletedProcess]:
    experiment = tmp_path / "exp.toml"
    experiment.write_text(SMALL.replace("rounds = 1", "rounds = 50"))
    out = tmp_path / "out"
    # Its own session, so that SIGINT reaches the whole group as Ctrl-C does in a terminal;
    # SIGINT's default action restored, as a terminal gives it (a suite started in the
    # background of a non-interactive shell inherits SIGINT ignored, and so would the run).
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledgerlearn.cli", "run", str(experiment), "--out", str(out),
         "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not (out / "metrics.jsonl").is_file() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    time.sleep(1.0)  # inside a mode: the training pool is at work
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    return experiment, out, subprocess.CompletedProcess(proc.args, proc.returncode, stdout,
                                                         stderr)


def test_ctrl_c_exits_130_and_run_names_replace(tmp_path: Path) -> None:
    experiment, out, done = _interrupted_run(tmp_path)
    stderr = done.stderr.decode()
    assert done.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert not (out / "summary.json").exists()

    runner = CliRunner()
    again = runner.invoke(main, ["run", str(experiment), "--out", str(out), "--quiet"])
    assert again.exit_code != 0
    assert "interrupted run" in again.output and "--replace" in again.output

    experiment.write_text(SMALL)
    replaced = runner.invoke(
        main, ["run", str(experiment), "--out", str(out), "--quiet", "--replace"]
    )
    assert replaced.exit_code == 0, replaced.output
    assert (out / "summary.json").is_file()


def test_replace_takes_an_interrupted_run_and_keeps_other_files(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    (out / "ledger" / "peers").mkdir(parents=True)
    (out / "experiment.toml").write_text("[experiment]\n")  # written first by every run
    (out / "metrics.jsonl").write_text("{}\n")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RunDirectoryError, match=r"interrupted run.*--replace"):
        prepare_directory(out, replace=False)
    prepare_directory(out, replace=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_demo_quiet_is_an_option() -> None:
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert "--quiet" in result.output


@pytest.mark.parametrize("command", ["run", "demo"])
def test_read_only_out_is_a_plain_error(tmp_path: Path, monkeypatch, command: str) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    real_write = Path.write_bytes

    def refuse(self: Path, data: bytes) -> int:  # a read-only folder (root ignores chmod)
        if self.parent == out:
            raise PermissionError(13, "Permission denied", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", refuse)
    experiment = tmp_path / "exp.toml"
    experiment.write_text(SMALL)
    args = ["run", str(experiment)] if command == "run" else ["demo"]
    result = CliRunner().invoke(main, [*args, "--out", str(out), "--quiet"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"cannot write the run into {out}: permission denied" in result.output
    assert "Traceback" not in result.output
    assert list(out.iterdir()) == []
