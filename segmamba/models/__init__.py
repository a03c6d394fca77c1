"""models step."""
