"""The customer administrator's users of their own contract: list, add (invite), disable (remove)."""
