"""Who a request comes from, for rate limits, and the one call handlers make to count a try.

Behind a load balancer every request comes from its address: with ``CALLPAY_TRUSTED_PROXIES`` naming it, the
client is the last address in ``X-Forwarded-For`` that isn't one of those proxies (the entries before it are the
client's own claim and can't be believed). Without the setting the header is ignored, so nobody can pick their
own address to dodge a limit.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import web

from addon.appkeys import RATE_LIMITS, SETTINGS


def _trusted(address: str, networks: Iterable[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network) for network in networks)


def client_address(request: web.Request) -> str:
    remote = request.remote or "unknown"
    proxies = request.app[SETTINGS].trusted_proxies
    if not proxies or not _trusted(remote, proxies):
        return remote
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    for address in reversed(forwarded):
        if not _trusted(address, proxies):
            return address[:64]
    return remote


async def limit(request: web.Request, *rules: tuple[str, str]) -> None:
    """Count this request against each (rule, who); over a budget raises RateLimited (429, Retry-After)."""
    await request.app[RATE_LIMITS].check(*rules)
