"""Endorsement: a proposal's chaincode run on a simulator (read/write sets), then signed."""
