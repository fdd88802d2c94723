"""What the explorer shows, read from a run directory or a live network folder, read-only.

The ledger is the primary source: models, rules, committees, updates, reports and verdicts are
read from the world state of one peer's copy (``peers/<msp_id>/ledger.sqlite``), opened with
SQLite's ``mode=ro`` so nothing is ever written, and blocks from the same copy. A run that is
still going has no ``summary.json`` or ``dag.json`` yet; once they exist they add what only
the driver knows (which provider was malicious, simulated times, the audit at the end).

Records are the learning contract's (``ledgerlearn.contract.records``), stored as canonical
JSON under Fabric composite keys (``ledgerlearn.contract.keys``); they are returned as plain
dicts ready for JSON.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ledgerlearn.contract import CHAINCODE_NAME
from ledgerlearn.contract.keys import (
    MEMBER,
    MODEL,
    MODEL_STATUS,
    PRIVACY,
    REPORT,
    REVIEW,
    ROUND,
    SEPARATOR,
    UPDATE,
    VERDICT,
)
from ledgerlearn.contract.records import INITIAL, PENDING, REJECTED, VERIFIED

LEDGER_FILE = "ledger.sqlite"
#: The views of ``updates``: every field, or only what the DAG draws and searches.
VIEWS = ("full", "dag")
#: The columns of the ``dag`` view, one value per update (see :func:`dag_columns`).
DAG_COLUMNS = ("update_id", "provider", "round", "block", "status", "median_score",
               "malicious", "weights_cid", "tx_id", "parent_start", "parents")
#: Status codes of the ``dag`` view's ``status`` column.
STATUS_CODES = (PENDING, VERIFIED, REJECTED)


def dag_columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the DAG draws and searches, column by column: a third of the bytes of the same
    rows as objects, and no key parsed 10,000 times in the page.

    Rows keep their order. ``provider`` and ``status`` are indices into ``providers`` and
    ``statuses``; an update's parents are ``parents[parent_start[i]:parent_start[i + 1]]``,
    each the row of the parent in this answer (>= 0) or ``-(k + 1)`` for ``parent_ids[k]``
    (the initial weights, or an update outside the answer, as with ``since``)."""
    providers = sorted({r["provider"] for r in rows})
    provider_index = {p: i for i, p in enumerate(providers)}
    row_of = {r["update_id"]: i for i, r in enumerate(rows)}
    status_index = {s: i for i, s in enumerate(STATUS_CODES)}
    outside: dict[str, int] = {}
    starts, parents = [0], []
    for r in rows:
        for parent in r.get("parents") or []:
            at = row_of.get(parent)
            parents.append(at if at is not None else -1 - outside.setdefault(parent, len(outside)))
        starts.append(len(parents))
    columns = {
        "update_id": [r["update_id"] for r in rows],
        "provider": [provider_index[r["provider"]] for r in rows],
        "round": [r.get("round") or 0 for r in rows],
        "block": [r["block"] for r in rows],
        "status": [status_index.get(r["status"], 0) for r in rows],
        "median_score": [r["median_score"] for r in rows],
        "malicious": [1 if r.get("malicious") else 0 for r in rows],
        "weights_cid": [r.get("weights_cid") or "" for r in rows],
        "tx_id": [r.get("tx_id") or "" for r in rows],
        "parent_start": starts,
        "parents": parents,
    }
    return {"count": len(rows), "providers": providers, "statuses": list(STATUS_CODES),
            "parent_ids": list(outside), "columns": columns}


class SourceError(ValueError):
    """The folder holds nothing the explorer can show."""


def _prefix(object_type: str, *attributes: str) -> bytes:
    """The byte prefix of every composite key of ``object_type`` starting with ``attributes``."""
    tail = "".join(a + SEPARATOR for a in attributes)
    return (SEPARATOR + object_type + SEPARATOR + tail).encode()


def _attributes(key: bytes) -> list[str]:
    return key.decode("utf-8", "replace")[1:].split(SEPARATOR)[1:-1]


def find_ledger_copies(directory: Path) -> list[Path]:
    """Peer copies (``ledger.sqlite`` files) of a run directory or a network folder."""
    for base in (directory / "ledger" / "peers", directory / "peers", directory):
        found = sorted(base.glob(f"*/{LEDGER_FILE}")) if base.is_dir() else []
        if found:
            return found
    return sorted(directory.rglob(LEDGER_FILE)) if directory.is_dir() else []


def open_read_only(path: Path) -> sqlite3.Connection:
    """An SQLite connection that cannot write: ``file:...?mode=ro``."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class RunSource:
    """A run directory (``ledgerlearn run`` / ``demo``) or a live network folder, read-only.

    ``ledger_dir`` (default: ``directory``) is where the peer copies are: a live embedded
    network's folder while the run's own files (``summary.json``, ``dag.json``) are in
    ``directory``.
    """

    def __init__(self, directory: Path | str, *, live: bool = False,
                 ledger_dir: Path | str | None = None) -> None:
        self.directory = Path(directory)
        self.ledger_dir = self.directory if ledger_dir is None else Path(ledger_dir)
        self.live = live
        for folder in {self.directory, self.ledger_dir}:
            if not folder.is_dir():
                raise SourceError(f"{folder} is not a directory; give a run directory (the "
                                  "--out of 'ledgerlearn run' or 'demo') or a network folder")
        if not live and not self.copies() and not self._file("summary.json"):
            raise SourceError(
                f"{self.directory} holds neither a ledger (ledger/peers/*/{LEDGER_FILE}) nor a "
                "summary.json; is it the --out folder of a run?"
            )
        self._lock = threading.Lock()
        self._json_cache: dict[str, tuple[float, Any]] = {}
        #: (model, since, view) -> (ledger height, dag.json's time, answer): a page polling an
        #: unchanged ledger, or a second page, is not given the same 10,000 updates twice
        #: at the cost of reading them again.
        self._updates_cache: dict[tuple[str, int, str], tuple[int, float | None, Any]] = {}

    # -- files of the run ------------------------------------------------------------------

    def _file(self, name: str) -> Path | None:
        path = self.directory / name
        return path if path.is_file() else None

    def _json_file(self, name: str) -> Any:
        path = self._file(name)
        if path is None:
            return None
        mtime = path.stat().st_mtime
        with self._lock:
            cached = self._json_cache.get(name)
            if cached and cached[0] == mtime:
                return cached[1]
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None  # being written right now: the next poll reads it
        with self._lock:
            self._json_cache[name] = (mtime, value)
        return value

    def summary(self) -> dict[str, Any] | None:
        """The run's summary.json (None while the run is still going)."""
        return self._json_file("summary.json")

    def _dag_index(self) -> dict[str, dict[str, Any]]:
        dag = self._json_file("dag.json") or {}
        return {u["update_id"]: u for u in dag.get("updates", [])}

    # -- the ledger copy -------------------------------------------------------------------

    def copies(self) -> list[Path]:
        return find_ledger_copies(self.ledger_dir)

    def peers(self) -> list[dict[str, Any]]:
        """Each peer copy with its height (an unreadable one with its error)."""
        peers = []
        for path in self.copies():
            try:
                with contextlib.closing(open_read_only(path)) as conn:
                    peers.append({"peer": path.parent.name, "height": self._height(conn)})
            except sqlite3.Error as exc:
                peers.append({"peer": path.parent.name, "height": None, "error": str(exc)})
        return peers

    def close(self) -> None:
        """Nothing to release for files (a gateway source closes its connection)."""

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection | None]:
        copies = self.copies()
        if not copies:
            yield None
            return
        conn = open_read_only(copies[0])
        try:
            conn.execute("BEGIN")  # one snapshot for every read of this request
            yield conn
        finally:
            conn.close()

    @staticmethod
    def _height(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT MAX(number) FROM blocks").fetchone()
        return 0 if row[0] is None else row[0] + 1

    @staticmethod
    def _scan(
        conn: sqlite3.Connection, object_type: str, *attributes: str, since: int = 0
    ) -> list[tuple[list[str], dict[str, Any], int]]:
        """(key attributes, record, block) of every state key under the prefix."""
        start = _prefix(object_type, *attributes)
        rows = conn.execute(
            "SELECT key, value, block_num FROM state WHERE ns=? AND key>=? AND key<?"
            " AND block_num>=? ORDER BY key",
            (CHAINCODE_NAME, start, start + b"\xff", since),
        )
        out = []
        for key, value, block in rows:
            try:
                record = json.loads(bytes(value))
            except (json.JSONDecodeError, UnicodeDecodeError):
                record = {"undecodable": bytes(value)[:64].hex()}
            out.append((_attributes(bytes(key)), record, block))
        return out

    def version(self) -> dict[str, Any]:
        """What changes when there is something new to show (polled by the page)."""
        with self._connection() as conn:
            height = self._height(conn) if conn is not None else 0
        files = {}
        for name in ("summary.json", "dag.json"):
            path = self._file(name)
            files[name] = path.stat().st_mtime if path else None
        return {"height": height, "files": files,
                "version": f"{height}:{files['summary.json']}:{files['dag.json']}"}

    # -- models, members, updates ----------------------------------------------------------

    def overview(self) -> dict[str, Any]:
        """Channel height, peer copies, models with rules, committee, status and rounds."""
        summary = self.summary()
        peers = self.peers()
        models = []
        height = 0
        with self._connection() as conn:
            if conn is not None:
                height = self._height(conn)
                models = self._models(conn)
        ledger_summary = (summary or {}).get("ledger") or {}
        return {
            "directory": str(self.directory),
            "live": self.live,
            "finished": summary is not None,
            "height": height,
            "peers": peers,
            "audit": ledger_summary.get("audit"),
            "transactions": ledger_summary.get("transactions"),
            "valid_transactions": ledger_summary.get("valid_transactions"),
            "models": models,
            "summary": summary,
        }

    def _models(self, conn: sqlite3.Connection) -> list[dict[str, Any]]:
        statuses = {attrs[0]: rec for attrs, rec, _ in self._scan(conn, MODEL_STATUS)}
        reviews: dict[str, list[dict[str, Any]]] = {}
        for attrs, rec, _ in self._scan(conn, REVIEW):
            reviews.setdefault(attrs[0], []).append(rec)
        models = []
        for attrs, model, block in self._scan(conn, MODEL):
            model_id = attrs[0]
            verdicts = self._scan(conn, VERDICT, model_id)
            counts = {VERIFIED: 0, REJECTED: 0}
            for _, verdict, _ in verdicts:
                counts[verdict.get("status")] = counts.get(verdict.get("status"), 0) + 1
            total = len(self._scan_keys(conn, UPDATE, model_id))
            rounds = sorted({int(a[1]) for a in self._scan_keys(conn, ROUND, model_id)})
            decision = statuses.get(model_id)
            models.append({
                "model_id": model_id,
                "name": model.get("name"),
                "description": model.get("description"),
                "mode": model.get("mode"),
                "metric": model.get("metric"),
                "higher_is_better": model.get("higher_is_better"),
                "rules": model.get("rules", {}),
                "committee": model.get("committee", []),
                "publisher": model.get("publisher"),
                "published_at": model.get("published_at"),
                "initial_weights_cid": model.get("initial_weights_cid"),
                "spec_cid": model.get("spec_cid"),
                "tx_id": model.get("tx_id"),
                "block": block,
                "status": decision.get("status") if decision else "proposed",
                "decision": decision,
                "reviews": reviews.get(model_id, []),
                "rounds_seen": len(rounds),
                "last_round": rounds[-1] if rounds else None,
                "updates": {"total": total, "verified": counts[VERIFIED],
                            "rejected": counts[REJECTED],
                            "pending": total - counts[VERIFIED] - counts[REJECTED]},
            })
        return models

    @staticmethod
    def _scan_keys(conn: sqlite3.Connection, object_type: str, *attributes: str) -> list[list[str]]:
        start = _prefix(object_type, *attributes)
        rows = conn.execute(
            "SELECT key FROM state WHERE ns=? AND key>=? AND key<?",
            (CHAINCODE_NAME, start, start + b"\xff"),
        )
        return [_attributes(bytes(key)) for (key,) in rows]

    def updates(self, model_id: str, since: int = 0, *, ids: list[str] | None = None,
                view: str = "full") -> dict[str, Any]:
        """Every update of a model with parents, reports and verdict (``since``: only those
        whose update, a report or the verdict was written in block ``since`` or later;
        ``ids``: only these). ``view="dag"``: only what the DAG draws and searches, as
        columns (:func:`dag_columns`), without reading the reports: a twentieth of the bytes
        for a big model; the page asks for one update in full when it is selected. Answers
        are kept per ledger height (and dag.json's time), so an unchanged ledger is read
        once."""
        if view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}; got {view!r}")
        dag_file = self._file("dag.json")
        dag_time = dag_file.stat().st_mtime if dag_file else None
        dag = self._dag_index()
        slim = view == "dag"
        cache_key = (model_id, since, view) if ids is None else None
        with self._connection() as conn:
            if conn is None:
                empty = {"model": model_id, "height": 0, "since": since}
                return {**empty, **dag_columns([])} if slim else {**empty, "updates": []}
            height = self._height(conn)
            with self._lock:
                cached = self._updates_cache.get(cache_key) if cache_key else None
            if cached is not None and cached[:2] == (height, dag_time):
                return cached[2]
            found = self._scan(conn, MODEL, model_id)
            if not found:
                raise KeyError(f"no model {model_id!r} on the ledger")
            model = found[0][1]
            committee = model.get("committee", [])
            if since or ids is not None:
                if ids is not None:
                    touched = set(ids)
                else:
                    touched = {a[1] for a, _, _ in self._scan(conn, UPDATE, model_id, since=since)}
                    touched |= {a[1] for a, _, _ in
                                self._scan(conn, REPORT, model_id, since=since)}
                    touched |= {a[1] for a, _, _ in
                                self._scan(conn, VERDICT, model_id, since=since)}
                chosen = sorted(touched)
                records = [r for uid in chosen for r in self._scan(conn, UPDATE, model_id, uid)]
                reports = [] if slim else [
                    r for uid in chosen for r in self._scan(conn, REPORT, model_id, uid)]
                verdicts = [r for uid in chosen for r in self._scan(conn, VERDICT, model_id, uid)]
            else:
                records = self._scan(conn, UPDATE, model_id)
                reports = [] if slim else self._scan(conn, REPORT, model_id)
                verdicts = self._scan(conn, VERDICT, model_id)
        by_update: dict[str, list[dict[str, Any]]] = {}
        for attrs, report, block in reports:
            by_update.setdefault(attrs[1], []).append({**report, "block": block})
        verdict_of = {attrs[1]: {**v, "block": b} for attrs, v, b in verdicts}
        rank = {m: i for i, m in enumerate(committee)}
        out = []
        for attrs, update, block in records:
            uid = attrs[1]
            verdict = verdict_of.get(uid)
            mine = sorted(by_update.get(uid, []), key=lambda r: rank.get(r.get("member"), 99))
            reported = {r.get("member") for r in mine}
            extra = dag.get(uid, {})
            if slim:
                out.append({
                    "update_id": uid, "provider": update.get("provider", ""),
                    "parents": update.get("parents") or [], "round": update.get("round"),
                    "weights_cid": update.get("weights_cid"), "tx_id": update.get("tx_id"),
                    "submitted_at": update.get("submitted_at"), "block": block,
                    "status": verdict["status"] if verdict else PENDING,
                    "median_score": verdict.get("median_score") if verdict else None,
                    "malicious": extra.get("malicious"),
                })
                continue
            out.append({
                **update,
                "block": block,
                "status": verdict["status"] if verdict else PENDING,
                "median_score": verdict.get("median_score") if verdict else None,
                "verdict": verdict,
                "reports": mine,
                "not_reported": [m for m in committee if m not in reported],
                "malicious": extra.get("malicious"),
                "sim_seconds": extra.get("sim_seconds"),
            })
        out.sort(key=lambda u: (u["block"], u.get("submitted_at") or "", u["update_id"]))
        answer = {"model": model_id, "height": height, "since": since,
                  "initial": INITIAL, "initial_weights_cid": model.get("initial_weights_cid"),
                  "committee": committee, "mode": model.get("mode")}
        if slim:
            answer.update(dag_columns(out))
        else:
            answer["updates"] = out
        if cache_key is not None:
            with self._lock:
                if len(self._updates_cache) > 64:
                    self._updates_cache.clear()
                self._updates_cache[cache_key] = (height, dag_time, answer)
        return answer

    def update(self, model_id: str, update_id: str) -> dict[str, Any]:
        """One update in full (record, reports, verdict, what is missing), as ``updates``."""
        found = self.updates(model_id, ids=[update_id])
        if not found["updates"]:
            raise KeyError(f"no update {update_id!r} of model {model_id!r} on the ledger")
        return {**found, "update": found["updates"][0]}

    def privacy(self, model_id: str) -> dict[str, Any]:
        """A DP model's budget and each provider's ε over its updates, from the ledger.

        ``rule`` is the model's ``privacy`` rule (budget ``epsilon`` and ``delta`` per provider,
        ``max_grad_norm``, ``noise_multiplier``) or None for a model without DP (then
        ``providers`` is empty). ``providers`` maps each provider to its spending entries (the
        contract's ``PrivacyEntry`` records under ``privacy~model~provider~update``) in the
        order the contract composes them (submission time, update id), each with the ε spent
        *after* that update, its round and block: the figures of summary.json's
        ``privacy.epsilon_over_time``, read from the chain."""
        with self._connection() as conn:
            if conn is None:
                raise KeyError(f"no model {model_id!r} on the ledger")
            found = self._scan(conn, MODEL, model_id)
            if not found:
                raise KeyError(f"no model {model_id!r} on the ledger")
            rule = (found[0][1].get("rules") or {}).get("privacy")
            entries = self._scan(conn, PRIVACY, model_id) if rule else []
            rounds = {a[1]: rec.get("round") for a, rec, _ in
                      self._scan(conn, UPDATE, model_id)} if entries else {}
        providers: dict[str, list[dict[str, Any]]] = {}
        for attrs, entry, block in entries:
            providers.setdefault(attrs[1], []).append({
                "update_id": entry.get("update_id", attrs[2]),
                "epsilon": entry.get("epsilon"),
                "steps": entry.get("steps"),
                "sample_rate": entry.get("sample_rate"),
                "submitted_at": entry.get("submitted_at"),
                "round": rounds.get(attrs[2]),
                "block": block,
            })
        for spent in providers.values():
            spent.sort(key=lambda e: (e["submitted_at"] or "", e["update_id"]))
            for n, e in enumerate(spent, 1):
                e["n"] = n
        return {"model": model_id, "rule": rule,
                "providers": {p: providers[p] for p in sorted(providers)}}

    def members(self) -> dict[str, Any]:
        """Members and organizations, with the reports, flags and updates of each."""
        dag = self._dag_index()
        with self._connection() as conn:
            if conn is None:
                return {"members": [], "organizations": []}
            records = self._scan(conn, MEMBER)
            reports = self._scan(conn, REPORT)
            verdicts = {(a[0], a[1]): v for a, v, _ in self._scan(conn, VERDICT)}
            updates = self._scan(conn, UPDATE)
            reviews = self._scan(conn, REVIEW)
            models = {a[0]: m for a, m, _ in self._scan(conn, MODEL)}
        members: dict[str, dict[str, Any]] = {}
        for _, rec, block in records:
            members[rec["member_id"]] = {
                "member_id": rec["member_id"], "msp_id": rec.get("msp_id"),
                "name": rec.get("name"), "role": rec.get("role"),
                "registered_at": rec.get("registered_at"), "tx_id": rec.get("tx_id"),
                "block": block, "committee_of": [],
                "reports": 0, "not_sane": 0, "disagreed": 0, "reviews": 0,
                "updates": 0, "verified": 0, "rejected": 0, "pending": 0, "malicious": 0,
            }
        for model_id, model in models.items():
            for member in model.get("committee", []):
                if member in members:
                    members[member]["committee_of"].append(model_id)
        for attrs, report, _ in reports:
            who = members.get(report.get("member"))
            if who is None:
                continue
            who["reports"] += 1
            who["not_sane"] += not report.get("sane", True)
            verdict = verdicts.get((attrs[0], attrs[1]))
            if verdict is not None:
                model = models.get(attrs[0], {})
                rule = (model.get("rules") or {}).get("min_score", 0.0)
                higher = model.get("higher_is_better", True)
                meets = report.get("score", 0) >= rule if higher else report.get("score", 0) <= rule
                accepts = bool(report.get("sane")) and meets
                who["disagreed"] += accepts != (verdict.get("status") == VERIFIED)
        for _, review, _ in reviews:
            if review.get("member") in members:
                members[review["member"]]["reviews"] += 1
        for attrs, update, _ in updates:
            who = members.get(update.get("provider"))
            if who is None:
                continue
            who["updates"] += 1
            status = (verdicts.get((attrs[0], attrs[1])) or {}).get("status", PENDING)
            who[status if status in (VERIFIED, REJECTED) else PENDING] += 1
            who["malicious"] += bool(dag.get(attrs[1], {}).get("malicious"))
        for who in members.values():
            flags = []
            if who["rejected"]:
                flags.append(f"{who['rejected']} of {who['updates']} updates rejected")
            if who["malicious"]:
                flags.append("malicious provider (run's adversary)")
            if who["not_sane"]:
                flags.append(f"flagged {who['not_sane']} updates as not sane")
            if who["disagreed"]:
                flags.append(f"{who['disagreed']} reports disagree with the verdict")
            who["flags"] = flags
        organizations: dict[str, dict[str, Any]] = {}
        for who in members.values():
            org = organizations.setdefault(who["msp_id"], {
                "msp_id": who["msp_id"], "members": 0, "roles": {}, "updates": 0,
                "verified": 0, "rejected": 0, "reports": 0, "not_sane": 0,
            })
            org["members"] += 1
            org["roles"][who["role"]] = org["roles"].get(who["role"], 0) + 1
            for key in ("updates", "verified", "rejected", "reports", "not_sane"):
                org[key] += who[key]
        return {"members": sorted(members.values(), key=lambda m: m["member_id"]),
                "organizations": sorted(organizations.values(), key=lambda o: o["msp_id"])}

    def member_reports(self, member_id: str, limit: int = 1000) -> dict[str, Any]:
        """The reports a member made and the updates it provided (newest first)."""
        with self._connection() as conn:
            if conn is None:
                return {"member": member_id, "reports": [], "updates": []}
            reports = [
                {**rec, "block": block} for _, rec, block in self._scan(conn, REPORT)
                if rec.get("member") == member_id
            ]
            verdicts = {(a[0], a[1]): v for a, v, _ in self._scan(conn, VERDICT)}
            updates = [
                {**rec, "block": block,
                 "status": (verdicts.get((a[0], a[1])) or {}).get("status", PENDING)}
                for a, rec, block in self._scan(conn, UPDATE) if rec.get("provider") == member_id
            ]
        for report in reports:
            verdict = verdicts.get((report.get("model_id"), report.get("update_id"))) or {}
            report["verdict"] = verdict.get("status", PENDING)
        reports.sort(key=lambda r: -r["block"])
        updates.sort(key=lambda u: -u["block"])
        return {"member": member_id, "reports": reports[:limit], "updates": updates[:limit],
                "total_reports": len(reports), "total_updates": len(updates)}

    # -- blocks ----------------------------------------------------------------------------

    def blocks(self, before: int | None = None, limit: int = 20) -> dict[str, Any]:
        """Blocks ``before`` (exclusive; default: the height), newest first, decoded."""
        from ledgerlearn.explorer.blocks import describe_block

        with self._connection() as conn:
            if conn is None:
                return {"height": 0, "blocks": []}
            height = self._height(conn)
            end = height if before is None else max(0, min(before, height))
            rows = conn.execute(
                "SELECT number, data FROM blocks WHERE number<? AND number>=?"
                " ORDER BY number DESC", (end, max(0, end - limit)),
            ).fetchall()
        return {"height": height, "blocks": [describe_block(n, bytes(d)) for n, d in rows]}

    def transaction(self, tx_id: str) -> dict[str, Any]:
        """Where a transaction landed: block, index, validation code, decoded."""
        from ledgerlearn.explorer.blocks import describe_block

        with self._connection() as conn:
            row = None if conn is None else conn.execute(
                "SELECT block_num, tx_num FROM txids WHERE tx_id=?", (tx_id,)).fetchone()
            if row is None:
                raise KeyError(f"no transaction {tx_id!r} on the ledger")
            data = conn.execute("SELECT data FROM blocks WHERE number=?", (row[0],)).fetchone()
        block = describe_block(row[0], bytes(data[0]))
        return {"block": row[0], "index": row[1], "tx": block["transactions"][row[1]]}
