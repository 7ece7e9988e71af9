"""File delivery capture: the call's bridge recording, rolled into fixed-length segments."""
