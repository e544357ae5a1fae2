"""In-process pynetdicom peers that misbehave on purpose, for fault-handling tests."""

from .misbehaving import (
    AbortingScp,
    EndlessPendingScp,
    RejectingScp,
    StallingScp,
    StatusScp,
)

__all__ = ["AbortingScp", "EndlessPendingScp", "RejectingScp", "StallingScp", "StatusScp"]
