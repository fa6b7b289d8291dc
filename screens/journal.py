"""Journal screen (wired to the engine below)."""
