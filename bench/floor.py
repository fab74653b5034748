"""The bare floor the bench compares Callpay with: the same libraries doing the least each operation needs.

One process, aiohttp + python-socketio configured as Callpay configures them (aiohttp async mode, WebSocket, the
same ping interval), and nothing else: no database, no sessions, no templates.

- ``GET /page`` (and the widgets' paths, for bench/sockets.py's clients) answers a small HTML page with a token
  in it (what a launch page hands the browser);
- a socket connects with ``auth {"token": …}`` and joins the room its ``call`` query parameter names;
- the ``request_payment`` event acks ``{"ok": true, "payment_request": {...}}`` at once;
- ``POST /emit/{room}`` emits ``payment_received`` to the room and answers 200 (a webhook that only relays);
- ``POST /checkout`` makes one PaymentIntent at the Stripe sandbox through aiohttp and returns its secret.

    python bench/floor.py --port P --sandbox URL --key sk_test_…
"""

from __future__ import annotations

import argparse
import json
import secrets
from typing import Any

import aiohttp
import socketio
from aiohttp import web

PING_INTERVAL = 20


def build(sandbox: str, key: str, account: str) -> web.Application:
    server = socketio.AsyncServer(
        async_mode="aiohttp", ping_interval=PING_INTERVAL, cors_allowed_origins="*", logger=False, engineio_logger=False
    )
    app = web.Application()
    server.attach(app, socketio_path="socket.io")

    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        call = environ.get("QUERY_STRING", "")
        room = dict(part.partition("=")[::2] for part in call.split("&")).get("call")
        if room:
            await server.enter_room(sid, room)

    async def request_payment(sid: str, data: Any = None) -> Any:
        return {"ok": True, "payment_request": {"id": secrets.token_hex(8), "amount": 8000, "currency": "aud"}}

    server.on("connect", connect)
    server.on("request_payment", request_payment)

    page = '<!doctype html><title>floor</title><script type="application/json" id="callpay-session">{}</script>'

    async def get_page(_request: web.Request) -> web.Response:
        token = json.dumps({"token": secrets.token_urlsafe(32)})
        return web.Response(text=page.format(token), content_type="text/html")

    async def emit(request: web.Request) -> web.Response:
        body = await request.read()
        await server.emit("payment_received", json.loads(body or b"{}"), room=request.match_info["room"])
        return web.json_response({"received": True})

    async def checkout(request: web.Request) -> web.Response:
        await request.read()
        async with app["http"].post(
            f"{sandbox}/v1/payment_intents",
            data={"amount": "8000", "currency": "aud", "automatic_payment_methods[enabled]": "true"},
            headers={"Authorization": f"Bearer {key}", "Stripe-Account": account},
        ) as answer:
            intent = await answer.json()
        return web.json_response({"client_secret": intent.get("client_secret")})

    async def http_client(app: web.Application) -> Any:
        app["http"] = aiohttp.ClientSession()
        yield
        await app["http"].close()

    app.cleanup_ctx.append(http_client)
    for path in ("/page", "/widget/clinician", "/widget/patient"):
        app.router.add_get(path, get_page)
    app.router.add_get("/healthz", lambda _r: web.json_response({"ok": True}))
    app.router.add_post("/emit/{room}", emit)
    app.router.add_post("/checkout", checkout)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sandbox", default="http://127.0.0.1:9")
    parser.add_argument("--key", default="sk_test_floor")
    parser.add_argument("--account", default="")
    args = parser.parse_args()
    web.run_app(build(args.sandbox, args.key, args.account), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
