"""Asterisk's manager interface (AMI), for what ARI does not offer (media/mixmonitor.py)."""
