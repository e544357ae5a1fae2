"""Icons and data files, read through importlib.resources."""
