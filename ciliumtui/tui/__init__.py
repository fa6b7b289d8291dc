"""The TUI's plumbing beside the App: the typed interface screens use (control),
the one command table (commands) and its palette, and the probe workers (workers,
netdelta). Widgets never import from here: they only draw what they are handed."""
