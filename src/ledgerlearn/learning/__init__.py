"""Datasets, partitions, declarative models, training, evaluation and aggregation."""
