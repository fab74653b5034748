"""An offline stand-in for Stripe, reached over HTTP exactly as Stripe is (see the contract's "The Stripe sandbox").

Public entry points: :func:`create_sandbox_app`, :func:`start_sandbox` / :class:`RunningSandbox`.
"""

from __future__ import annotations

from .app import create_sandbox_app
from .runner import RunningSandbox, start_sandbox

__all__ = ["RunningSandbox", "create_sandbox_app", "start_sandbox"]
