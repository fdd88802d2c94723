"""Errors of the learning package: one class per kind of refused input, all `LearningError`."""

from __future__ import annotations


class LearningError(Exception):
    """Base class of every learning failure, so callers can catch them together."""


class ModelSpecError(LearningError, ValueError):
    """A model spec is malformed: unknown layer, bad argument, shapes that do not chain."""


class DatasetError(LearningError, ValueError):
    """A data set is missing, malformed or does not fit what it is used for."""


class DownloadError(LearningError):
    """A data set file could not be fetched or did not match its published SHA-256."""


class PartitionError(LearningError, ValueError):
    """A partition scheme or its parameters cannot split these labels."""


class TrainingError(LearningError, ValueError):
    """Training or evaluation was asked with inputs that do not fit together."""


class AggregationError(LearningError, ValueError):
    """Updates cannot be aggregated: empty, mismatched shapes, non-finite values, bad rule."""
