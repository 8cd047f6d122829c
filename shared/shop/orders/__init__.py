"""Orders and their status history."""
