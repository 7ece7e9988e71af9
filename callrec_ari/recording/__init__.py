"""A finished call's recorded segments, gathered for packaging (the engine itself is media/recorder.py)."""
