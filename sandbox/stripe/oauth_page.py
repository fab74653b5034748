"""The HTML of the sandbox's Connect consent page; every value is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

from .state import Account

_STYLE = """
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: #f6f9fc;
       color: #1a1f36; }
main { max-width: 460px; margin: 48px auto; background: #fff; border-radius: 10px; padding: 32px;
       box-shadow: 0 2px 12px rgba(50, 50, 93, .12); }
h1 { font-size: 20px; margin: 0 0 4px; }
.badge { display: inline-block; font-size: 12px; background: #ffde92; color: #5b3b00; border-radius: 4px;
         padding: 1px 6px; margin-bottom: 16px; }
fieldset { border: 1px solid #e3e8ee; border-radius: 8px; margin: 16px 0; padding: 12px 16px; }
legend { font-weight: 600; padding: 0 4px; }
label { display: block; margin: 6px 0; }
input[type=text], input[type=email] { width: 100%; box-sizing: border-box; padding: 8px;
       border: 1px solid #cfd7df; border-radius: 6px; font: inherit; }
.row { display: flex; gap: 12px; } .row label { flex: 1; }
.actions { display: flex; gap: 12px; justify-content: flex-end; margin-top: 24px; }
button { font: inherit; border-radius: 6px; padding: 8px 16px; border: 1px solid #cfd7df; background: #fff;
         cursor: pointer; }
button.primary { background: #635bff; border-color: #635bff; color: #fff; font-weight: 600; }
code { background: #f6f9fc; padding: 2px 6px; border-radius: 4px; }
"""


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    )


def _hidden(name: str, value: str | None) -> str:
    if value is None:
        return ""
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def consent_page(
    *,
    platform: Account,
    scope: str,
    redirect_uri: str | None,
    state: str | None,
    existing: list[Account],
    prefill: dict[str, Any],
) -> str:
    def pre(name: str, default: str) -> str:
        value = prefill.get(name)
        return escape(value if isinstance(value, str) and value else default)

    choices = "".join(
        f'<label><input type="radio" name="account" value="{escape(account.id)}" '
        f'data-testid="oauth-account-{escape(account.id)}"> {escape(account.business_name or account.id)} '
        f"<code>{escape(account.id)}</code></label>"
        for account in existing
    )
    access = "read and write" if scope == "read_write" else "read-only"
    body = f"""
<span class="badge">Stripe sandbox — test data only</span>
<h1>Connect to {escape(platform.business_name or platform.id)}</h1>
<p>{escape(platform.business_name or platform.id)} asks for {access} access to a Stripe account.</p>
<form method="post" action="/oauth/authorize">
  {_hidden("client_id", platform.client_id)}{_hidden("scope", scope)}{_hidden("response_type", "code")}
  {_hidden("redirect_uri", redirect_uri)}{_hidden("state", state)}
  <fieldset><legend>Account</legend>
    {choices}
    <label><input type="radio" name="account" value="new" checked data-testid="oauth-account-new">
      Create a new sandbox account</label>
    <label>Business name <input type="text" name="business_name" value="{pre("business_name", "Sandbox Clinic")}"
      data-testid="oauth-business-name"></label>
    <label>Email <input type="email" name="email" value="{pre("email", "")}" data-testid="oauth-email"></label>
    <div class="row">
      <label>Country <input type="text" name="country" value="{pre("country", "AU")}" maxlength="2"
        data-testid="oauth-country"></label>
      <label>Currency <input type="text" name="currency" value="{pre("currency", "aud")}" maxlength="3"
        data-testid="oauth-currency"></label>
    </div>
  </fieldset>
  <div class="actions">
    <button type="submit" name="action" value="cancel" data-testid="oauth-cancel">Cancel</button>
    <button type="submit" name="action" value="authorize" class="primary" data-testid="oauth-authorize">
      Authorize access</button>
  </div>
</form>"""
    return _document("Connect with Stripe (sandbox)", body)


def code_page(code: str) -> str:
    return _document(
        "Authorized",
        f"<h1>Authorized</h1><p>No redirect_uri was given. The authorization code is "
        f'<code data-testid="oauth-code">{escape(code)}</code>.</p>',
    )


def error_page(message: str) -> str:
    return _document("Connect error", f"<h1>Something is wrong with this link</h1><p>{escape(message)}</p>")
