"""Rendering: composing a profile's generated lips into footage frames."""
