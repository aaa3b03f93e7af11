"""Claims: dpo (filled in by the topic module)."""
