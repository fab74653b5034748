"""The hosted onboarding page an Account Link opens, at ``/setup/s/{account}/{token}``.

As on Stripe: the link works once and for a few minutes; a used, expired or replaced link sends the person to the
link's ``refresh_url`` (where the platform makes a fresh one); finishing sends them to its ``return_url`` whether
or not everything is done. The page asks only for what the account still needs, and a field left empty stays
due, which is how a test (or a person trying the demo) leaves requirements outstanding.
"""

from __future__ import annotations

import secrets
from html import escape

from aiohttp import web

from . import accounts_api
from .accounts_api import AccountLink
from .appkeys import STATE
from .state import Account, now

_STYLE = """
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: #f6f9fc;
       color: #1a1f36; }
main { max-width: 520px; margin: 40px auto; background: #fff; border-radius: 10px; padding: 32px;
       box-shadow: 0 2px 12px rgba(50, 50, 93, .12); }
h1 { font-size: 22px; margin: 0 0 4px; }
.badge { display: inline-block; font-size: 13px; background: #ffde92; color: #5b3b00; border-radius: 4px;
         padding: 1px 6px; margin-bottom: 16px; }
label { display: block; margin: 14px 0 4px; font-weight: 600; }
.hint { color: #4f566b; font-size: 14px; margin: 0 0 4px; }
input[type=text], input[type=url], select { width: 100%; box-sizing: border-box; padding: 10px;
       border: 1px solid #8792a2; border-radius: 6px; font: inherit; min-height: 44px; }
.check { display: flex; gap: 10px; align-items: flex-start; font-weight: 400; }
.check input { width: 22px; height: 22px; margin-top: 2px; }
.actions { margin-top: 28px; }
button { font: inherit; border-radius: 6px; padding: 10px 18px; min-height: 44px; cursor: pointer;
         background: #533afd; border: 1px solid #533afd; color: #fff; font-weight: 600; }
.done { color: #0e6245; }
"""

# Each requirement the page can collect: (label, hint, input). Anything else due gets a plain text box.
FIELDS: dict[str, tuple[str, str, str]] = {
    "company.name": ("Business name", "As registered, such as Harbour Physio Pty Ltd", "text"),
    "business_type": ("Type of business", "", "business_type"),
    "business_profile.url": ("Business website", "Or a social media page that describes the business", "url"),
    "representative.first_name": ("Your first name", "You, as the person who runs the business", "text"),
    "representative.last_name": ("Your last name", "", "text"),
    "representative.dob.day": ("Your date of birth", "As DD/MM/YYYY", "text"),
    "external_account": ("Bank account for payouts", "BSB and account number; test: 000-000 000123456", "text"),
    "individual.verification.document": ("Identity document", "In the sandbox, tick to say one was uploaded", "check"),
    "company.tax_id": ("ABN", "11 digits", "text"),
    "tos_acceptance.date": ("Stripe's terms", "", "tos"),
}
# Requirements satisfied together with another one on the page.
_TOGETHER = {
    "tos_acceptance.ip": "tos_acceptance.date",
    "representative.dob.month": "representative.dob.day",
    "representative.dob.year": "representative.dob.day",
}


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    )


def _field_id(requirement: str) -> str:
    return "f-" + requirement.replace(".", "-")


def _field(requirement: str) -> str:
    label, hint, kind = FIELDS.get(
        requirement, (requirement, "Anything: the sandbox only checks it isn't empty", "text")
    )
    fid = _field_id(requirement)
    hint_html = f'<p class="hint" id="{fid}-hint">{escape(hint)}</p>' if hint else ""
    described = f' aria-describedby="{fid}-hint"' if hint else ""
    name = escape(requirement)
    testid = f'data-testid="onboarding-{escape(requirement)}"'
    if kind == "business_type":
        options = "".join(
            f'<option value="{value}">{text}</option>'
            for value, text in (
                ("", "Choose…"),
                ("company", "Company"),
                ("individual", "Sole trader"),
                ("non_profit", "Non-profit"),
            )
        )
        control = f'<select id="{fid}" name="{name}" {testid}>{options}</select>'
    elif kind in ("check", "tos"):
        text = (
            "I agree to the Stripe Services Agreement (sandbox: nothing is signed)" if kind == "tos" else escape(label)
        )
        return (
            f'<label class="check" for="{fid}"><input type="checkbox" id="{fid}" name="{name}" value="yes"'
            f"{described} {testid}> {text}</label>{hint_html}"
        )
    else:
        kind_attr = "url" if kind == "url" else "text"
        control = f'<input type="{kind_attr}" id="{fid}" name="{name}"{described} {testid}>'
    return f'<label for="{fid}">{escape(label)}</label>{hint_html}{control}'


def _page(account: Account, platform: Account, link: AccountLink, due: list[str]) -> str:
    shown = [r for r in dict.fromkeys(_TOGETHER.get(r, r) for r in due)]
    platform_name = escape(platform.business_name or platform.id)
    name = escape(account.business_name or account.id)
    if shown:
        intro = (
            f"<p>{platform_name} uses Stripe to take payments for <strong>{name}</strong>. Stripe needs a few "
            "details. Leave a field empty to finish it later.</p>"
        )
    else:
        intro = f'<p class="done">Nothing is outstanding for <strong>{name}</strong>.</p>'
    fields = "".join(_field(r) for r in shown)
    body = f"""
<span class="badge">Stripe sandbox — test data only</span>
<h1>Set up payments with Stripe</h1>
{intro}
<form method="post" action="/setup/s/{escape(account.id)}/{escape(link.token)}">
  <input type="hidden" name="nonce" value="{escape(link.page_nonce or "")}">
  {fields}
  <div class="actions"><button type="submit" data-testid="onboarding-submit">Submit and return to
    {platform_name}</button></div>
</form>"""
    return _document("Set up payments with Stripe (sandbox)", body)


def _unknown() -> web.Response:
    body = "<h1>This link isn't valid</h1><p>Go back to the site that sent you here and start again.</p>"
    return web.Response(text=_document("Link not valid", body), content_type="text/html", status=404)


async def show(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    link = accounts_api.find_link(state, request.match_info["account"], request.match_info["token"])
    account = state.accounts.get(request.match_info["account"])
    if link is None or account is None:
        return _unknown()
    at = now()
    if not link.usable(at):
        raise web.HTTPFound(link.refresh_url)
    link.visited_at = at
    link.page_nonce = secrets.token_urlsafe(16)
    platform = state.accounts[link.platform_id]
    page = _page(account, platform, link, accounts_api.still_due(account))
    response = web.Response(text=page, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


async def submit(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    link = accounts_api.find_link(state, request.match_info["account"], request.match_info["token"])
    account = state.accounts.get(request.match_info["account"])
    if link is None or account is None:
        return _unknown()
    form = await request.post()
    fresh = link.visited_at is not None and now() < link.visited_at + accounts_api.PAGE_LIFETIME
    if link.submitted or not fresh or not secrets.compare_digest(str(form.get("nonce", "")), link.page_nonce or "-"):
        raise web.HTTPFound(link.refresh_url)
    link.submitted = True
    given = {key for key, value in form.items() if key != "nonce" and str(value).strip()}
    given |= {key for key, shown in _TOGETHER.items() if shown in given}
    left = [r for r in accounts_api.still_due(account) if r not in given]
    current = account.requirements or {}
    eventually = [r for r in current.get("eventually_due") or [] if r not in given]
    # What stays due after a visit is due now rather than overdue only if the account could take payments before.
    overdue = bool(current.get("past_due"))

    def apply(acct: Account) -> None:
        acct.requirements = accounts_api.requirements(left, past_due=overdue, eventually_due=eventually)
        if "company.name" in given:
            acct.business_name = str(form["company.name"]).strip()[:100]

    accounts_api.change_account(state, account, apply)
    raise web.HTTPFound(link.return_url)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/setup/s/{account}/{token}", show)
    app.router.add_post("/setup/s/{account}/{token}", submit)
