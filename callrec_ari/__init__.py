"""callrec: a call recording service on Asterisk 22, controlled over ARI."""

__version__ = "0.1.0"
