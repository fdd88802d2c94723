"""Participants as processes (`ledgerlearn node`), Kubo discovery, and the distributed demo."""
