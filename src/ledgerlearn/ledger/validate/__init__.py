"""Validation and commit: signatures, endorsement policy, MVCC checks, then the block applied."""
