"""Claims: two_grpo (filled in by the topic module)."""
