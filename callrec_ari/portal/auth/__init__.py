"""Accounts, passwords, login limits and sessions (R4.2): the login page and the API session."""
