"""Payment flow fixtures: see tests.support.payflow."""

from tests.support.payflow import connected, stack  # noqa: F401
