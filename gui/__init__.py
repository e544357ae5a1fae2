"""The desktop window (arrives with the desktop issue)."""
