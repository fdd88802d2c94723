"""The world state of one peer: versioned keys, key history and blocks in SQLite."""
