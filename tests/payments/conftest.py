"""Payment flow fixtures: see tests.support.payflow."""

from tests.support.payflow import connected, http, sandbox, stack  # noqa: F401
