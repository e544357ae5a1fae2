"""Configuration: PACS profiles and the file that holds them, application settings, folders, and
the safe file primitives they are written with.
"""
