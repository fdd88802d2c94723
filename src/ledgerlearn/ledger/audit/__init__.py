"""The audit: every block re-checked from genesis, peers' copies compared, and shown."""
