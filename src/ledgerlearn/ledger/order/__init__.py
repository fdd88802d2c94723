"""Ordering: cut endorsed transactions into signed, hash-chained blocks."""
