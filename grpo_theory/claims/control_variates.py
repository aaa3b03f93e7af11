"""Claims: control_variates (filled in by the topic module)."""
