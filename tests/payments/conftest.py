"""Payment flow fixtures: see tests.support.payflow."""

from tests.support.payflow import connected, postgres_stack, stack  # noqa: F401
