"""Claims: paper_arithmetic (filled in by the topic module)."""
