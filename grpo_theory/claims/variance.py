"""Claims: variance (filled in by the topic module)."""
