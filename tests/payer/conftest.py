"""Who pays and who is paying: the payment flow's stack (tests.support.payflow), with sockets that come and go."""

from tests.support.payflow import connected, stack  # noqa: F401
