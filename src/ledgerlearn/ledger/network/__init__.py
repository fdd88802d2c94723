"""The embedded network (orderer and peers from one channel configuration) and its client."""
