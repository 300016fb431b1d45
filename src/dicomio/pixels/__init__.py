"""pixels layer."""
