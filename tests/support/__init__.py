"""Helpers shared by test packages: the whole payment flow against the real app, sandbox and sockets."""
