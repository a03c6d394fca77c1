"""evaluation step."""
