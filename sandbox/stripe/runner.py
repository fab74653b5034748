"""Run the sandbox inside the current event loop (the demo and tests do), or as its own process."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .app import create_sandbox_app
from .config import Delivery


@dataclass
class RunningSandbox:
    url: str  # base address, e.g. http://127.0.0.1:12111 (no trailing slash)
    app: web.Application
    _runner: web.AppRunner

    async def close(self) -> None:
        await self._runner.cleanup()


async def start_sandbox(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    public_url: str | None = None,
    webhook_retry_base: float = 0.5,
    webhook_max_attempts: int = 6,
    delivery: Delivery | None = None,
    refund_settle_delay: float = 2.0,
) -> RunningSandbox:
    """Serve a fresh sandbox on ``host:port`` (0: any free port) and return its address; ``close()`` stops it."""
    app = create_sandbox_app(
        public_url=public_url,
        webhook_retry_base=webhook_retry_base,
        webhook_max_attempts=webhook_max_attempts,
        delivery=delivery,
        refund_settle_delay=refund_settle_delay,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1] if runner.addresses else port  # port 0 picks a free one
    shown_host = f"[{host}]" if ":" in host else host
    url = public_url.rstrip("/") if public_url else f"http://{shown_host}:{bound_port}"
    return RunningSandbox(url=url, app=app, _runner=runner)
