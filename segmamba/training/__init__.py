"""training step."""
