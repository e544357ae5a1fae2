"""Query/Retrieve requests and answers: keys, decoding, and what a selection resolves to (PS3.4
Annex C).
"""
