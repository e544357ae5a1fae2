"""Sends as jobs: the job vocabulary, the queue, the job database, history, retry, resume and the
checks before a send.
"""
