"""Wizard screen (wired to the engine below)."""
