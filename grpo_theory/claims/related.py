"""Claims: related (filled in by the topic module)."""
