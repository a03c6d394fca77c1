"""inference step."""
