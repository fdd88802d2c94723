"""Model publisher, data provider and committee member agents."""
