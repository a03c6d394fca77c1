"""efficiency step."""
