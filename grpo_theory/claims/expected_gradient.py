"""Claims: expected_gradient (filled in by the topic module)."""
