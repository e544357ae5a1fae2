"""The DIMSE client: associations and their timers, and the C-ECHO, C-FIND and C-MOVE operations
on worker threads (PS3.7, PS3.8).
"""
