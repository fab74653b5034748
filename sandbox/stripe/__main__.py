"""``python -m sandbox.stripe [--host 127.0.0.1] [--port 12111] [--public-url URL] [--realistic-delivery]``."""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

from .app import create_sandbox_app
from .config import REALISTIC


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.stripe", description="An offline Stripe sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--public-url", default=None, help="the address browsers use, if not host:port")
    parser.add_argument(
        "--realistic-delivery",
        action="store_true",
        help="deliver webhooks as Stripe may: some twice, in any order within a short window, a little late",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    url = args.public_url or f"http://{args.host}:{args.port}"
    print(f"Stripe sandbox at {url} (API {url}/v1, Connect {url}/oauth, Stripe.js {url}/v3/)", flush=True)
    app = create_sandbox_app(public_url=args.public_url, delivery=REALISTIC if args.realistic_delivery else None)
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
