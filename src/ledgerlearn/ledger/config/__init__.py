"""Channel configuration: the genesis block's organizations, orderer settings and policies."""
