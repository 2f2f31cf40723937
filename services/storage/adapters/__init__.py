"""Adapters of the storage service to the outside world."""
