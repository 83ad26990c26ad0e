"""Errors shared by the dataset readers of `edge-agent evaluate`."""


class DatasetError(Exception):
    """A dataset path that is missing, empty or not in the expected layout."""
