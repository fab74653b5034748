"""A stand-in for the host video-call platform, used by the demo: it mints launch JWTs and opens Callpay's surfaces
the way the platform does (in-call panes as iframes, admin pages top-level). See :mod:`sandbox.host.simulator`."""

from __future__ import annotations

from .simulator import HostPlatform, setup

__all__ = ["HostPlatform", "setup"]
