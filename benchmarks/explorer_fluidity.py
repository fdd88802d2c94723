"""Is the explorer's DAG of 10,000 updates fluid? First render, frame times, search and click.

    .venv/bin/python benchmarks/explorer_fluidity.py [--updates N] [--quick] [--keep DIR]

Writes a run directory whose ledger holds one gossip model with N updates (default 10,000),
each with 3 committee reports and a verdict: the contract's own record types
(``contract.records``) in its canonical JSON under its composite keys (``contract.keys``),
committed block by block through the peer's store (``ledger.store.LedgerStore.commit_block``),
so the explorer reads it exactly as a run's copy. (The blocks carry the writes, not signed
transactions: what is measured is the DAG page, which reads the world state.) Then it serves
the explorer on 127.0.0.1 and drives Debian's chromium headless through Playwright
(``/usr/bin/chromium``, software WebGL: SwiftShader) to measure:

- ``first_render_s``: from opening the DAG tab until every update is drawn and that frame
  is shown (two animation frames after sigma's draw), with the browser's CPU for it and the
  page's parts in ``page_ms``: ``renderer_ms`` (sigma created), ``fetch_ms`` (the
  ``/api/updates?view=dag`` answer, columns, the server building it cold),
  ``parse_ms``, ``build_ms`` (rows and the graphology graph), ``refresh_ms`` (sigma indexing)
  and ``first_draw_ms`` (indexing until the frame is shown); ``api_dag_s`` /
  ``api_dag_cpu_s`` / ``api_dag_mb``: that answer built by the server on its own;
- ``frames``: requestAnimationFrame deltas over the whole camera phase, through real input
  only: wheel notches with the mouse over the graph, a mouse drag, the page's ``+`` / ``−``
  and "whole DAG" buttons, with a pause after each (the page redraws when the camera has
  been still for 150 ms). ``p50_frame_ms``, ``p95_frame_ms``, ``max_frame_ms`` count every
  frame, the redraw frames at settle included; ``moving_p95_frame_ms`` leaves out the frames
  that overlap a redraw; ``settle_redraws`` and ``settle_redraw_ms_*``: how many redraws and
  how long each took (from the settle to the frame after the one that shows it);
  ``camera_cpu_ms_per_frame``: the browser's CPU (all its processes) over the phase per
  frame. **Fluid** here means p95 ≤ 50 ms (≥ 20 fps);
- ``search_ms``: typing a provider's name until its hits are highlighted and listed;
  ``select_ms``: Enter on an id until the details and the lineage are shown
  (``select_and_fly_ms``: until the flight to it has settled and is drawn);
  ``click_ms``: a real mouse click on a node until its details are shown.

The last line is a JSON object with these, the machine's load average and the verdict
``fluid`` (p95 frame ≤ 50 ms and first render ≤ 5 s). ``--quick``: 2,000 updates.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ledgerlearn.contract import CHAINCODE_NAME, keys
from ledgerlearn.contract.records import (
    ACTIVE,
    REJECTED,
    VERIFIED,
    MemberRecord,
    ModelDecision,
    ModelRecord,
    Report,
    Rules,
    UpdateRecord,
    Verdict,
    canonical_json,
    timestamp_text,
    to_dict,
)
from ledgerlearn.ledger.protoutil import block_header_hash, new_block
from ledgerlearn.ledger.store.statedb import LedgerStore, StateWrite, Version

CHROMIUM = Path(os.environ.get("LEDGERLEARN_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-unsafe-swiftshader",
]
MODEL_ID = "bench-gossip"
COMMITTEE = ["Org1MSP/member0", "Org2MSP/member1", "Org1MSP/member2"]
PER_BLOCK = 100  # updates per block; their reports and verdicts in the two blocks after
FLUID_P95_MS = 50.0
FIRST_RENDER_S = 5.0


def _tx_id(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _update_id(tx_id: str) -> str:
    """As the contract derives it (contract.contract._update_id): SHA-256 of the tx id."""
    return hashlib.sha256(tx_id.encode()).hexdigest()[:24]


class BlockWriter:
    """Commits blocks of state writes to one peer copy, chained by header hash."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self.previous = b""
        self.number = 0

    def commit(self, writes: list[tuple[str, Any, str, str]]) -> int:
        """``writes``: (object type, record, tx id, key attributes joined by '/')."""
        block = new_block(self.number, self.previous, [])
        header_hash = block_header_hash(block.header)
        state = [
            StateWrite(CHAINCODE_NAME, keys.composite_key(kind, attrs.split("/")
                                                           if kind != keys.MEMBER else [attrs]),
                       canonical_json(to_dict(record)), False, Version(self.number, n), tx, 0, 0)
            for n, (kind, record, tx, attrs) in enumerate(writes)
        ]
        self.store.commit_block(self.number, header_hash, block.SerializeToString(),
                                [(tx, n, 0) for n, (_, _, tx, _) in enumerate(writes)], state)
        self.previous, self.number = header_hash, self.number + 1
        return self.number - 1


def write_run(directory: Path, count: int, providers: int = 40, seed: int = 7) -> dict[str, Any]:
    """A run directory with one gossip model of ``count`` updates on its ledger copy."""
    rng = random.Random(seed)
    store = LedgerStore(directory / "ledger" / "peers" / "Org1MSP", create=True)
    writer = BlockWriter(store)
    t0 = 1_767_225_600  # 2026-01-01

    def when(seconds: float) -> str:
        return timestamp_text(int(seconds), int((seconds % 1) * 1e9))

    genesis = new_block(0, b"", [])
    store.commit_block(0, block_header_hash(genesis.header), genesis.SerializeToString(), [], [])
    writer.previous, writer.number = block_header_hash(genesis.header), 1
    names = ["Org1MSP/publisher", *COMMITTEE, *(f"Org{1 + i % 2}MSP/provider{i}"
                                               for i in range(providers))]
    members = []
    for name in names:
        msp, short = name.split("/")
        role = ("publisher" if short == "publisher" else
                "committee" if short.startswith("member") else "provider")
        tx = _tx_id("register", name)
        members.append((keys.MEMBER, MemberRecord(name, msp, short, role, "", when(t0), tx), tx,
                        name))
    writer.commit(members)
    rules = to_dict(Rules(quorum=2, training_time_tolerance=2.0, min_score=0.25))
    tx = _tx_id("publish")
    model = ModelRecord(MODEL_ID, "benchmark (gossip)", "10,000 synthetic updates", "-",
                        "QmSpec", "QmInitial", "accuracy", True, "gossip", COMMITTEE,
                        {m: f"fragment{i}" for i, m in enumerate(COMMITTEE)}, rules,
                        "Org1MSP/publisher", when(t0 + 1), tx)
    decision = ModelDecision(MODEL_ID, ACTIVE, COMMITTEE, [], "approved by 3 of 3",
                             when(t0 + 2), _tx_id("decide"))
    writer.commit([(keys.MODEL, model, tx, MODEL_ID)])
    writer.commit([(keys.MODEL_STATUS, decision, decision.tx_id, MODEL_ID)])
    verified: list[str] = []
    for start in range(0, count, PER_BLOCK):
        batch, reports, verdicts = [], [], []
        for i in range(start, min(count, start + PER_BLOCK)):
            clock = t0 + 10 + i
            tx = _tx_id("submit", i)
            uid = _update_id(tx)
            pool = verified[-300:]
            parents = rng.sample(pool, min(3, len(pool))) or ["initial"]
            provider = names[4 + i % providers]
            batch.append((keys.UPDATE, UpdateRecord(
                MODEL_ID, uid, provider, "Qm" + hashlib.sha256(uid.encode()).hexdigest()[:44],
                parents, 100 + i % 50, 5.0, 0, when(clock), tx), tx, f"{MODEL_ID}/{uid}"))
            score = rng.random()
            scores = [min(1.0, max(0.0, score + rng.uniform(-0.05, 0.05))) for _ in COMMITTEE]
            for member, s in zip(COMMITTEE, scores, strict=True):
                rtx = _tx_id("report", i, member)
                reports.append((keys.REPORT, Report(
                    MODEL_ID, uid, member, s, True, [], 0.05, when(clock + 0.5), rtx), rtx,
                    f"{MODEL_ID}/{uid}/{member}"))
            median = statistics.median(scores)
            status = VERIFIED if median >= 0.25 else REJECTED
            vtx = _tx_id("verdict", i)
            reason = (f"median score {median:.4f} >= min_score 0.25" if status == VERIFIED
                      else f"median score {median:.4f} below min_score 0.25")
            verdicts.append((keys.VERDICT, Verdict(
                MODEL_ID, uid, status, median, 3, 3, COMMITTEE, reason, when(clock + 1), vtx),
                vtx, f"{MODEL_ID}/{uid}"))
            if status == VERIFIED:
                verified.append(uid)
        writer.commit(batch)
        writer.commit(reports)
        writer.commit(verdicts)
    store.close()
    return {"updates": count, "blocks": writer.number, "verified": len(verified)}


FRAMES_START = """() => { window.__frames = []; let last = performance.now();
  window.__framing = true;
  function tick(now) { window.__frames.push([last, now - last]); last = now;
    if (window.__framing) requestAnimationFrame(tick); }
  requestAnimationFrame(tick);
  window.explorer.gesture.stats.settles = []; window.explorer.gesture.stats.spans = []; }"""

FRAMES_STOP = """() => { window.__framing = false;
  return {frames: window.__frames.slice(1), settles: window.explorer.gesture.stats.spans}; }"""


def browser_cpu_seconds(profile: str) -> float:
    """CPU seconds (user + system) used so far by the chromium started on ``profile`` and all
    its processes (renderer, GPU process with SwiftShader): what the frames cost whatever
    else the machine runs."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    roots = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])
        if profile.encode() in cmdline:
            roots.append(pid)
    tree, frontier = set(roots), list(roots)
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    return sum(ticks[pid] for pid in tree) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def settled(page: Any) -> None:
    """Until the camera has settled and its one redraw is shown."""
    page.wait_for_function("!window.explorer.gesture.busy() && !window.explorer.gesture.anim",
                           timeout=120_000)
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => "
                  "requestAnimationFrame(done)))")


def camera_phase(page: Any, box: dict[str, float]) -> None:
    """What a user does with the camera, through real input: wheel zooms in, a drag, wheel
    zooms out, the page's zoom buttons, "whole DAG"; a pause after each lets it settle."""
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx + 120, cy - 60)
    for _ in range(6):  # six notches, as a hand turns a wheel
        page.mouse.wheel(0, -100)
        page.wait_for_timeout(60)
    page.wait_for_timeout(500)
    page.mouse.move(cx, cy)
    page.mouse.down()
    for step in range(1, 41):
        page.mouse.move(cx - 8 * step, cy - 3 * step)
        page.wait_for_timeout(16)
    page.mouse.up()
    page.wait_for_timeout(500)
    page.mouse.move(cx - 200, cy + 40)
    for _ in range(6):
        page.mouse.wheel(0, 100)
        page.wait_for_timeout(60)
    page.wait_for_timeout(500)
    for button in ("#zoom-in", "#zoom-in", "#zoom-out", "#zoom-out"):
        page.click(button)
        page.wait_for_timeout(500)
    page.click("#reset-view")
    page.wait_for_timeout(600)


def measure(url: str, count: int, shots: Path | None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="explorer-bench-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=FLAGS,
                viewport={"width": 1500, "height": 950})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            page.wait_for_function("window.explorer && window.explorer.overview !== null",
                                   timeout=60_000)
            cpu_before = browser_cpu_seconds(profile)
            started = time.perf_counter()
            page.click("nav button[data-tab=dag]")
            page.wait_for_function(f"window.explorer.updates.size === {count} && "
                                   "window.explorer.drawn === true", timeout=300_000)
            first_render = time.perf_counter() - started
            cpu_first = browser_cpu_seconds(profile) - cpu_before
            page_timings = page.evaluate("window.explorer.loadTimings || null")
            page.wait_for_timeout(500)
            box = page.locator("#graph").bounding_box()
            cpu_before, wall_before = browser_cpu_seconds(profile), time.perf_counter()
            page.evaluate(FRAMES_START)
            camera_phase(page, box)
            settled(page)
            recorded = page.evaluate(FRAMES_STOP)
            cpu_camera = browser_cpu_seconds(profile) - cpu_before
            wall_camera = time.perf_counter() - wall_before
            # search by provider (many hits), then an id and Enter (it flies to the update)
            started = time.perf_counter()
            page.fill("#search", "provider7")
            page.wait_for_function("window.explorer.hits && window.explorer.hits.size > 0 && "
                                   "!document.getElementById('search-results').hidden")
            page.evaluate("() => new Promise((done) => requestAnimationFrame(done))")
            search_ms = (time.perf_counter() - started) * 1000
            hits = page.evaluate("window.explorer.hits.size")
            data = page.evaluate("[...window.explorer.updates.keys()]")
            target = data[-1]
            started = time.perf_counter()
            page.fill("#search", target)
            page.press("#search", "Enter")
            page.wait_for_function(
                f"document.getElementById('detail-update-id')?.textContent === '{target}'")
            page.evaluate("() => new Promise((done) => requestAnimationFrame(done))")
            select_ms = (time.perf_counter() - started) * 1000
            settled(page)  # its flight to the update, drawn
            fly_ms = (time.perf_counter() - started) * 1000
            page.press("#search", "Escape")
            page.click("#reset-view")
            settled(page)
            chosen = data[len(data) // 2]
            # fly onto the node first (the page's own animation) so that the click lands on
            # it alone, then a real mouse click where it is drawn
            page.evaluate(
                """(id) => { const d = window.explorer.renderer.getNodeDisplayData(id);
                     return window.explorer.gesture.flyTo({x: d.x, y: d.y, ratio: 0.004},
                                                          200); }""", chosen)
            settled(page)
            point = page.evaluate(
                """(id) => { const r = window.explorer.renderer;
                     const a = r.getGraph().getNodeAttributes(id);
                     return r.graphToViewport({x: a.x, y: a.y}); }""", chosen)
            page.evaluate("document.getElementById('details').innerHTML = ''")
            started = time.perf_counter()
            page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
            # the node under the pointer (a neighbour may overlap it): its details shown
            click_error = None
            try:
                page.wait_for_function("!!document.getElementById('detail-update-id')",
                                       timeout=60_000)
                page.evaluate("() => new Promise((done) => requestAnimationFrame(done))")
                click_ms = (time.perf_counter() - started) * 1000
            except Exception as exc:  # reported, not hidden: the other figures still count
                click_ms = None
                click_error = (f"no update selected by a click at {point} within 60 s "
                               f"({type(exc).__name__}); selected: "
                               f"{page.evaluate('window.explorer.selected')}")
            if shots is not None:
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / f"dag-{count}.png"))
            context.close()
            if errors:
                raise RuntimeError(f"errors in the page: {errors}")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    frames = [delta for _, delta in recorded["frames"]]
    spans = recorded["settles"]  # [start, end] of each redraw at settle (page clock, ms)
    # a frame "holds" a redraw when it overlaps one: what the user sees as the settle hitch
    redraw_frames = [delta for start, delta in recorded["frames"]
                     if any(start < end and start + delta > begin for begin, end in spans)]
    moving = [delta for start, delta in recorded["frames"]
              if not any(start < end and start + delta > begin for begin, end in spans)]
    settle_ms = [end - begin for begin, end in spans]
    return {
        "first_render_s": round(first_render, 3),
        "first_render_cpu_s": round(cpu_first, 2),
        "page_ms": {k: round(v, 1) if isinstance(v, float) else v
                    for k, v in (page_timings or {}).items()},
        "frames": len(frames),
        "camera_seconds": round(wall_camera, 2),
        "p50_frame_ms": round(percentile(frames, 0.5), 2),
        "p95_frame_ms": round(percentile(frames, 0.95), 2),
        "max_frame_ms": round(max(frames), 2),
        "p50_fps": round(1000 / percentile(frames, 0.5), 1),
        "p95_fps": round(1000 / percentile(frames, 0.95), 1),
        "moving_p95_frame_ms": round(percentile(moving, 0.95), 2) if moving else None,
        "settle_redraws": len(spans),
        "settle_redraw_ms_median": round(statistics.median(settle_ms), 1) if spans else None,
        "settle_redraw_ms_max": round(max(settle_ms), 1) if spans else None,
        "settle_frames": len(redraw_frames),
        # the browser's CPU (all its processes) per frame of the camera phase: load-independent
        "camera_cpu_ms_per_frame": round(1000 * cpu_camera / max(1, len(frames)), 2),
        "camera_cpu_s": round(cpu_camera, 2),
        "camera_cpu_share": round(cpu_camera / wall_camera, 2),
        "search_ms": round(search_ms, 1),
        "search_hits": hits,
        "select_ms": round(select_ms, 1),
        "select_and_fly_ms": round(fly_ms, 1),
        "click_ms": None if click_ms is None else round(click_ms, 1),
        "click_error": click_error,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=10_000, help="updates in the DAG")
    parser.add_argument("--quick", action="store_true", help="2,000 updates")
    parser.add_argument("--keep", type=Path, help="write the run directory here and keep it")
    parser.add_argument("--screenshots", type=Path, default=Path("test-artifacts/explorer"),
                        help="where the DAG's screenshot goes")
    args = parser.parse_args()
    count = 2_000 if args.quick else args.updates
    if not CHROMIUM.is_file():
        print(f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install "
              "chromium) or set LEDGERLEARN_CHROMIUM", file=sys.stderr)
        return 2
    from ledgerlearn.explorer.server import ExplorerServer
    from ledgerlearn.explorer.source import RunSource

    folder = args.keep or Path(tempfile.mkdtemp(prefix="explorer-fluidity-"))
    try:
        started = time.perf_counter()
        ledger = write_run(folder, count)
        print(f"wrote {count} updates in {ledger['blocks']} blocks "
              f"({time.perf_counter() - started:.1f} s)", flush=True)
        # the server's cost of the page's one big answer, on a source of its own (the served
        # one starts cold: its first answer is part of the first render)
        started, cpu = time.perf_counter(), time.process_time()
        answer = RunSource(folder).updates(MODEL_ID, view="dag")
        body = json.dumps(answer).encode()
        api_s, api_cpu = time.perf_counter() - started, time.process_time() - cpu
        edges = len(answer["columns"]["parents"])
        with ExplorerServer(RunSource(folder), 0) as server:
            figures = measure(server.url, count, args.screenshots)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    result = {
        "updates": count, "edges": edges, **figures,
        "api_dag_s": round(api_s, 3), "api_dag_cpu_s": round(api_cpu, 3),
        "api_dag_mb": round(len(body) / 1e6, 2),
        "fluid": figures["p95_frame_ms"] <= FLUID_P95_MS
        and figures["first_render_s"] <= FIRST_RENDER_S,
        "target": f"p95 frame <= {FLUID_P95_MS:.0f} ms (>= 20 fps), first render <= "
                  f"{FIRST_RENDER_S:.0f} s",
        "load_average": round(os.getloadavg()[0], 2),
        "renderer": "chromium headless, software WebGL (SwiftShader)",
    }
    for key in ("first_render_s", "page_ms", "p50_frame_ms", "p95_frame_ms", "max_frame_ms",
                "settle_redraws", "settle_redraw_ms_median", "camera_cpu_ms_per_frame",
                "search_ms", "select_ms", "click_ms"):
        print(f"{key}: {result[key]}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
