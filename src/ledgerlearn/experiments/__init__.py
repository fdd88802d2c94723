"""Experiment configs, runner, metrics and reports."""
