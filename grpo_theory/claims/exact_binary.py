"""Claims: exact_binary (filled in by the topic module)."""
