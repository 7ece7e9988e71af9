"""Getting a real Asterisk 22 to talk to: a local one in a Debian sid root, or one already running."""
