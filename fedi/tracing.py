"""Reads a deployment's events back from the stream and shows how each caused the next (the
panel's trace page shows the same chain, so the logic lives in runtime/event_chain.py)."""

from runtime.event_chain import Traced, collect, render_timeline, render_tree, summary

__all__ = ["Traced", "collect", "render_timeline", "render_tree", "summary"]
