"""What a run must satisfy whatever its scenario says: the glue's books against the engine's
ledger (glue_books) and the built-in safety checks every verdict includes (builtin)."""
