"""A stand-in for the Stripe dashboard, for people trying the demo: ``/dashboard/`` lists the sandbox's accounts
and what the sandbox serves; ``/dashboard/{account}/…`` (any path under it, as the product's "Open Stripe
dashboard" link adds ``/test/settings/account``) shows one account: its details, what Stripe still needs from it,
its payments and its refunds. Read-only HTML; every value is escaped. Nothing here exists in Stripe's API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from aiohttp import web

from . import objects
from .appkeys import STATE
from .currencies import format_amount
from .state import Account, SandboxState

JSON = dict[str, Any]

_STYLE = """
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: #f6f9fc;
       color: #1a1f36; }
main { max-width: 1000px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 8px 0; } h2 { font-size: 19px; margin: 28px 0 8px; }
.badge { display: inline-block; font-size: 13px; background: #ffde92; color: #5b3b00; border-radius: 4px;
         padding: 1px 6px; }
section { background: #fff; border-radius: 8px; padding: 16px 20px; box-shadow: 0 1px 4px rgba(50, 50, 93, .1);
          margin: 16px 0; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 8px; vertical-align: top; }
th { font-size: 14px; color: #4f566b; border-bottom: 1px solid #cfd7df; } td { border-bottom: 1px solid #e3e8ee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; } dt { color: #4f566b; }
dd { margin: 0; overflow-wrap: anywhere; } code { font-size: 14px; }
a { color: #533afd; } .muted { color: #4f566b; } .bad { color: #a41c4e; font-weight: 600; }
.ok { color: #0e6245; font-weight: 600; }
"""


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    )


def _when(timestamp: object) -> str:
    if not isinstance(timestamp, int):
        return "—"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%d %b %Y %H:%M UTC")


def _yes(value: bool) -> str:
    return '<span class="ok">Yes</span>' if value else '<span class="bad">No</span>'


def _money(amount: object, currency: object) -> str:
    if not isinstance(amount, int) or not isinstance(currency, str):
        return "—"
    return escape(f"{format_amount(amount, currency)} {currency.upper()}")


def _table(headings: list[str], rows: list[list[str]], *, empty: str, testid: str) -> str:
    if not rows:
        return f'<p class="muted" data-testid="{testid}">{escape(empty)}</p>'
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headings)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<table data-testid="{testid}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(text: str, *, num: bool = False) -> str:
    return f'<td class="num">{text}</td>' if num else f"<td>{text}</td>"


def index_page(state: SandboxState) -> str:
    rows = [
        [
            _cell(f'<a href="/dashboard/{escape(a.id)}">{escape(a.business_name or a.id)}</a>'),
            _cell(f"<code>{escape(a.id)}</code>"),
            _cell(_yes(a.charges_enabled)),
            _cell(str(len(a.payment_intents)), num=True),
            _cell(escape(", ".join(state.platforms_of(a.id)) or "—")),
        ]
        for a in state.accounts.values()
    ]
    accounts = _table(
        ["Account", "Id", "Can take payments", "Payments", "Connected to"],
        rows,
        empty="No accounts yet: one is made when a platform uses its key, or a clinic links or creates one.",
        testid="dashboard-accounts",
    )
    body = f"""
<span class="badge">Stripe sandbox — test data only</span>
<h1>Stripe sandbox</h1>
<p>An offline stand-in for Stripe. Everything here lives in memory and is gone when the sandbox stops.</p>
<section aria-labelledby="accounts-title"><h2 id="accounts-title">Accounts</h2>{accounts}</section>
<section aria-labelledby="serves-title"><h2 id="serves-title">What this sandbox serves</h2>
<dl>
  <dt><code>/v1/…</code></dt><dd>Stripe's API (secret key as Bearer; any <code>sk_test_X</code> is a platform)</dd>
  <dt><code>/oauth/authorize</code></dt><dd>Connect OAuth's consent page, and <code>/oauth/token</code></dd>
  <dt><code>/setup/s/…</code></dt><dd>Hosted onboarding, opened by an Account Link</dd>
  <dt><code>/v3/</code></dt><dd>The Stripe.js stand-in with the Payment Element</dd>
  <dt><code>/dashboard/</code></dt><dd>This page, and one page per account</dd>
  <dt><code>/_sandbox/…</code></dt><dd>Test controls (reset, faults, webhook failures, requirements)</dd>
</dl></section>"""
    return _document("Stripe sandbox", body)


def _requirement_list(items: list[str]) -> str:
    return ", ".join(f"<code>{escape(item)}</code>" for item in items) if items else "nothing"


def account_page(state: SandboxState, account: Account) -> str:
    shown = objects.account(account)  # as the API shows it, so this page can't disagree with it
    requirements = shown["requirements"]
    intents = sorted(account.payment_intents.values(), key=lambda pi: pi.get("created", 0), reverse=True)
    payments = _table(
        ["Created", "Amount", "Status", "Description", "Id"],
        [
            [
                _cell(escape(_when(pi.get("created")))),
                _cell(_money(pi.get("amount"), pi.get("currency")), num=True),
                _cell(escape(str(pi.get("status")))),
                _cell(escape(str(pi.get("description") or ""))),
                _cell(f"<code>{escape(pi['id'])}</code>"),
            ]
            for pi in intents
        ],
        empty="No payments yet.",
        testid="dashboard-payments",
    )
    refunds_sorted = sorted(account.refunds.values(), key=lambda r: r.get("created", 0), reverse=True)
    refunds = _table(
        ["Created", "Amount", "Status", "Reason", "Payment", "Id"],
        [
            [
                _cell(escape(_when(r.get("created")))),
                _cell(_money(r.get("amount"), r.get("currency")), num=True),
                _cell(escape(str(r.get("status")))),
                _cell(escape(str(r.get("reason") or ""))),
                _cell(f"<code>{escape(str(r.get('payment_intent') or r.get('charge') or ''))}</code>"),
                _cell(f"<code>{escape(r['id'])}</code>"),
            ]
            for r in refunds_sorted
        ],
        empty="No refunds yet.",
        testid="dashboard-refunds",
    )
    disabled = requirements.get("disabled_reason")
    body = f"""
<p><a href="/dashboard/">All sandbox accounts</a></p>
<span class="badge">Stripe sandbox — test data only</span>
<h1 data-testid="dashboard-account-name">{escape(account.business_name or account.id)}</h1>
<section aria-labelledby="details-title"><h2 id="details-title">Account details</h2>
<dl data-testid="dashboard-account">
  <dt>Account id</dt><dd><code>{escape(account.id)}</code></dd>
  <dt>Country</dt><dd>{escape(account.country)}</dd>
  <dt>Default currency</dt><dd>{escape(account.default_currency.upper())}</dd>
  <dt>Email</dt><dd>{escape(account.email or "—")}</dd>
  <dt>Created</dt><dd>{escape(_when(account.created))}</dd>
  <dt>Can take payments</dt><dd>{_yes(account.charges_enabled)}</dd>
  <dt>Payouts</dt><dd>{_yes(account.payouts_enabled)}</dd>
  <dt>Details submitted</dt><dd>{_yes(account.details_submitted)}</dd>
  <dt>Connected to</dt><dd>{escape(", ".join(state.platforms_of(account.id)) or "no platform")}</dd>
  <dt>Due now</dt><dd>{_requirement_list(requirements.get("currently_due") or [])}</dd>
  <dt>Overdue</dt><dd>{_requirement_list(requirements.get("past_due") or [])}</dd>
  <dt>Due eventually</dt><dd>{_requirement_list(requirements.get("eventually_due") or [])}</dd>
  <dt>Disabled reason</dt><dd>{escape(disabled) if disabled else "—"}</dd>
</dl></section>
<section aria-labelledby="payments-title"><h2 id="payments-title">Payments</h2>{payments}</section>
<section aria-labelledby="refunds-title"><h2 id="refunds-title">Refunds</h2>{refunds}</section>"""
    return _document(f"{account.business_name or account.id} · Stripe sandbox", body)


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, content_type="text/html", status=status)


async def index(request: web.Request) -> web.Response:
    return _html(index_page(request.app[STATE]))


async def account(request: web.Request) -> web.Response:
    state = request.app[STATE]
    found = state.accounts.get(request.match_info["account"])
    if found is None:
        body = (
            '<h1>No such account</h1><p>The sandbox has forgotten it, or never had it. <a href="/dashboard/">'
            "All sandbox accounts</a></p>"
        )
        return _html(_document("No such account", body), status=404)
    return _html(account_page(state, found))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dashboard", index)
    app.router.add_get("/dashboard/", index)
    app.router.add_get("/dashboard/{account}", account)
    app.router.add_get("/dashboard/{account}/{tail:.*}", account)
