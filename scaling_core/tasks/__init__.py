"""Domain tasks implementing the sweep engine's Task protocol."""
