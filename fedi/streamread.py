"""Reading the stream from the command line: every stored message, or the live tail (shared with
the panel, in runtime/event_chain.py)."""

from runtime.event_chain import Stored, stored

__all__ = ["Stored", "stored"]
