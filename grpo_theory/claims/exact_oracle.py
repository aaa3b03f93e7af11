"""Claims: exact_oracle (filled in by the topic module)."""
