"""The tests' customers' servers listen on loopback, which the platform refuses by default
(rules/destinations.py): the tests allow it explicitly, as an operator allows a customers' VPN range."""

LOOPBACK = ("127.0.0.0/8", "::1/128")
