"""Federation-inspired and gossip-inspired drivers, and the baselines."""
