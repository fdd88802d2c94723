"""Kubo nodes of separate participants finding each other through a shared folder."""

from __future__ import annotations

import json

import pytest

from ledgerlearn.participants.peering import FolderPeering
from ledgerlearn.storage.kubo import kubo_available

pytestmark = pytest.mark.skipif(
    kubo_available() is not None, reason=str(kubo_available()) + " (./dev installs it)"
)


def test_nodes_announce_connect_and_exchange_content(tmp_path):
    from ledgerlearn.storage.kubo import KuboStore

    peers = tmp_path / "peers"
    with KuboStore(tmp_path / "a") as a, KuboStore(tmp_path / "b", fetch_timeout=20) as b:
        first, second = FolderPeering(a, peers, "a"), FolderPeering(b, peers, "b")
        first.announce()
        second.announce()
        cid = a.put_bytes(b"weights of a provider" * 100)
        assert second.refresh(force=True) == 1
        assert second.refresh(force=True) == 0  # already connected
        assert b.get_bytes(cid) == b"weights of a provider" * 100
        first.withdraw()
        assert sorted(p.stem for p in peers.glob("*.json")) == ["b"]


def test_unreachable_announcements_are_skipped_for_a_while(tmp_path):
    from ledgerlearn.storage.kubo import KuboStore

    peers = tmp_path / "peers"
    peers.mkdir()
    gone = "/ip4/127.0.0.1/tcp/9/p2p/QmUur3tkbLJA8fSFZW887kAVGGTyDLoLxC7G6Ug9kMD1su"
    (peers / "gone.json").write_text(json.dumps({"addresses": [gone]}))
    (peers / "junk.json").write_text("{not json")
    with KuboStore(tmp_path / "a") as a:
        peering = FolderPeering(a, peers, "a")
        assert peering.refresh(force=True) == 0
        assert gone in peering._failed
        failed_at = peering._failed[gone]
        assert peering.refresh(force=True) == 0
        assert peering._failed[gone] == failed_at  # not tried again so soon
