"""Claims: contrastive (filled in by the topic module)."""
