"""Patient widget fixtures: the payment-flow stack (real app on a port, sandbox, connected clinic)."""

from tests.support.payflow import connected, stack  # noqa: F401
