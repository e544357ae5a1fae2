"""How an operation ended: DIMSE statuses, typed errors, sub-operation counts and the one outcome
table.
"""
