"""Tests of ledgerlearn.storage (a package, so test module names do not clash)."""
