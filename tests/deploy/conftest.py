"""Deployment fixtures: the payment stack of tests.support.payflow, real processes, nginx."""

from tests.support.payflow import connected, stack  # noqa: F401
