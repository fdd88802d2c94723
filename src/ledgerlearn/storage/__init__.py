"""Content-addressed storage: IPFS CIDs, local and Kubo stores, weights files, fragments."""
