"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 document of the JSON API.

Written out here rather than inferred, because the contract is what the host platform codes against; a test checks
that every ``/api/v1`` route of the app is documented and every documented path is served.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from addon import __version__
from addon.lifecycle import FLAG_NAMES, Status

JSON = "application/json"


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


_ONBOARDING_LINK: dict[str, Any] = {
    "type": "object",
    "required": ["onboarding_url"],
    "properties": {"onboarding_url": {"type": "string"}},
}


def _operation(
    summary: str,
    responses: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = body
    if parameters:
        operation["parameters"] = parameters
    if public:
        operation["security"] = []
    else:
        responses.setdefault("401", _error_response("Missing, expired or revoked session token"))
    responses.setdefault("400", _error_response("Invalid input; `field` names what to fix"))
    return operation


PR_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
COMMON_ERRORS = {"404": _error_response("No such payment request in your call or clinic")}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string", "description": "Written for people; safe to show as is"},
                    "field": {"type": "string"},
                    "errors": {
                        "type": "array",
                        "description": "Every problem, when there are several (each bad setting and preset at once)",
                        "items": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": "string"},
                            },
                        },
                    },
                },
            }
        },
    },
    "PaymentTotals": {
        "type": "object",
        "required": ["currency", "count", "gross", "refunded", "net"],
        "properties": {
            "currency": {"type": "string"},
            "count": {"type": "integer"},
            "gross": {"type": "integer", "description": "Money taken (paid, partially refunded, refunded)"},
            "refunded": {"type": "integer"},
            "net": {"type": "integer", "description": "gross - refunded"},
            "fees": {"type": ["integer", "null"], "description": "Stripe's fees, when reported for every payment"},
            "net_to_clinic": {"type": ["integer", "null"]},
            "display": {"type": "object"},
        },
    },
    "Refund": {
        "type": "object",
        "required": ["id", "amount", "currency", "reason", "status", "created_at"],
        "properties": {
            "id": {"type": "string"},
            "amount": {"type": "integer"},
            "currency": {"type": "string"},
            "reason": {"type": ["string", "null"]},
            "status": {"enum": ["pending", "succeeded", "failed", "canceled"]},
            "created_at": {"type": "string", "format": "date-time"},
            "amount_display": {"type": "string"},
            "created_at_display": {"type": ["string", "null"]},
            "settled_at": {"type": ["string", "null"], "format": "date-time"},
            "status_words": {"type": "string"},
            "failure_reason": {"type": ["string", "null"]},
            "failure_message": {"type": ["string", "null"]},
            "source": {"enum": ["callpay", "stripe"]},
        },
    },
    "RefundResult": {
        "type": "object",
        "required": ["refund", "payment_request"],
        "properties": {"refund": _ref("Refund"), "payment_request": _ref("PaymentRequest")},
    },
    "PaymentList": {
        "type": "object",
        "required": ["data", "totals", "next_cursor"],
        "properties": {
            "data": {"type": "array", "items": _ref("PaymentRequest")},
            "totals": {"type": "array", "items": _ref("PaymentTotals")},
            "next_cursor": {"type": ["string", "null"]},
            "timezone": {"type": "string"},
        },
    },
    "Session": {
        "type": "object",
        "required": ["token", "expires_at", "role", "user", "org", "clinic", "call"],
        "properties": {
            "token": {"type": "string", "description": "Opaque bearer token (256 random bits)"},
            "expires_at": {"type": "string", "format": "date-time"},
            "role": {"enum": ["org_admin", "team_admin", "team_member", "patient"]},
            "user": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
                "required": ["id", "name"],
            },
            "org": {"type": "string"},
            "clinic": {"type": ["string", "null"]},
            "call": {"type": ["string", "null"]},
        },
    },
    "PaymentRequest": {
        "type": "object",
        "required": [
            "id",
            "call",
            "clinic",
            "clinician",
            "amount",
            "currency",
            "description",
            "status",
            "amount_refunded",
            "receipt_number",
            "created_at",
            "paid_at",
            "failure_message",
        ],
        "properties": {
            "id": {"type": "string"},
            "call": {"type": "string"},
            "clinic": {"type": "string"},
            "clinician": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
                "required": ["id", "name"],
            },
            "amount": {"type": "integer", "description": "Minor units of the currency"},
            "currency": {"type": "string", "pattern": "^[a-z]{3}$"},
            "description": {"type": "string"},
            "status": {"enum": [str(status) for status in Status]},
            "amount_refunded": {"type": "integer"},
            "receipt_number": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "paid_at": {"type": ["string", "null"], "format": "date-time"},
            "failure_message": {"type": ["string", "null"]},
            # What may be done with the request now, from the lifecycle: pages read these, not the status.
            **{flag: {"type": "boolean"} for flag in FLAG_NAMES},
        },
        "additionalProperties": True,
    },
    "Checkout": {
        "type": "object",
        "required": ["client_secret", "publishable_key", "stripe_account", "stripe_js_url", "amount", "currency"],
        "properties": {
            "client_secret": {"type": "string"},
            "publishable_key": {"type": "string"},
            "stripe_account": {"type": "string"},
            "stripe_js_url": {"type": "string", "format": "uri"},
            "amount": {"type": "integer"},
            "currency": {"type": "string"},
        },
    },
    "ClinicStatus": {
        "type": "object",
        "description": "Also sent over Socket.IO as `clinic_status` whenever it changes",
        "required": ["clinic", "payments_available", "reason_code", "reason"],
        "properties": {
            "clinic": {"type": "string"},
            "payments_available": {"type": "boolean"},
            "reason_code": {"enum": ["addon_disabled", "no_stripe_account", "charges_disabled", None]},
            "reason": {"type": ["string", "null"], "description": "Why not, for a clinician; safe to show as is"},
        },
    },
    "ClinicSettings": {
        "type": "object",
        "description": "Payment settings; PATCH any subset. `preset_amounts` also accepts text such as "
        '"80.00, 120" and `confirm_above` text such as "500.00", both read in the clinic\'s `locale`',
        "properties": {
            "locale": {"type": "string", "description": "BCP 47; how the clinic writes amounts (default en-AU)"},
            "default_currency": {"type": "string", "pattern": "^[a-z]{3}$"},
            "preset_amounts": {"type": "array", "items": {"type": "integer"}, "description": "Minor units"},
            "preset_amounts_text": {"type": "string", "readOnly": True},
            "preset_amounts_display": {"type": "array", "items": {"type": "string"}, "readOnly": True},
            "confirm_above": {
                "type": ["integer", "string", "null"],
                "description": "Minor units; a request above it is confirmed first (null: 500 of the currency)",
            },
            "confirm_above_text": {"type": "string", "readOnly": True},
            "confirm_above_display": {"type": "string", "readOnly": True},
            "receipt_business_name": {"type": ["string", "null"]},
            "receipt_abn": {"type": ["string", "null"], "description": "Australian Business Number, checksum checked"},
            "receipt_provider_name": {"type": ["string", "null"]},
            "receipt_provider_number": {"type": ["string", "null"]},
            "receipt_address": {"type": ["string", "null"]},
            "receipt_phone": {"type": ["string", "null"]},
            "receipt_footer": {"type": ["string", "null"]},
        },
    },
    "ClinicConfig": {
        "type": "object",
        "required": ["clinic", "status", "stripe", "settings", "currencies", "notices"],
        "properties": {
            "clinic": {"type": "object"},
            "status": _ref("ClinicStatus"),
            "stripe": {
                "type": ["object", "null"],
                "description": "The linked Stripe account, or null",
                "properties": {
                    "account_id": {"type": "string"},
                    "name": {"type": ["string", "null"]},
                    "country": {"type": ["string", "null"]},
                    "default_currency": {"type": ["string", "null"]},
                    "charges_enabled": {"type": "boolean"},
                    "livemode": {"type": "boolean"},
                    "connected_at": {"type": ["string", "null"], "format": "date-time"},
                    "dashboard_url": {"type": "string", "format": "uri"},
                    "kind": {"enum": ["oauth", "hosted"], "description": "Linked through OAuth, or made here"},
                    "finish_on_stripe": {"type": "boolean", "description": "Hosted onboarding can be reopened"},
                    "health": {
                        "type": "object",
                        "description": "What Stripe says of the account; requirements in plain words, each once",
                        "properties": {
                            "charges_enabled": {"type": "boolean"},
                            "payouts_enabled": {"type": "boolean"},
                            "details_submitted": {"type": "boolean"},
                            "past_due": {"type": "array", "items": {"type": "string"}},
                            "currently_due": {"type": "array", "items": {"type": "string"}},
                            "eventually_due": {"type": "array", "items": {"type": "string"}},
                            "pending_verification": {"type": "array", "items": {"type": "string"}},
                            "current_deadline": {"type": ["string", "null"]},
                            "disabled_reason": {"type": ["string", "null"]},
                            "needs_action": {"type": "boolean"},
                        },
                    },
                },
            },
            "onboarding": {
                "type": "object",
                "description": "The ways the platform offers to link an account, and accounts this clinic had before",
                "properties": {
                    "ways": {"type": "array", "items": {"enum": ["oauth", "hosted"]}},
                    "previous_accounts": {"type": "array", "items": {"type": "object"}},
                    "countries": {"type": "array", "items": {"type": "object"}},
                },
            },
            "settings": _ref("ClinicSettings"),
            "currencies": {"type": "array", "items": {"type": "string"}},
            "notices": {"type": "array", "items": {"type": "object"}},
        },
    },
    "OrgClinic": {
        "type": "object",
        "required": ["id", "addon_enabled", "stripe_connected", "status"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "addon_enabled": {"type": "boolean"},
            "stripe_connected": {"type": "boolean"},
            "stripe_account_name": {"type": ["string", "null"]},
            "status": _ref("ClinicStatus"),
        },
    },
}

# Each part of the product documents the routes it adds here, next to the others, so the document stays whole.
PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/sessions": {
        "post": _operation(
            "Exchange a launch token for a session token (consumes the launch)",
            {"201": _json_response("The session", _ref("Session")), "401": _error_response("Bad launch")},
            body=_body({"type": "object", "required": ["launch"], "properties": {"launch": {"type": "string"}}}),
            public=True,
        )
    },
    "/api/v1/openapi.json": {
        "get": _operation("This document", {"200": {"description": "OpenAPI 3.1 document"}}, public=True)
    },
    "/api/v1/payment-requests/{id}/checkout": {
        "post": _operation(
            "Start or resume paying a request (patient of its call); repeating returns the same PaymentIntent",
            {
                "200": _json_response("What Stripe.js needs", _ref("Checkout")),
                **COMMON_ERRORS,
                "409": _error_response("Already paid or canceled, or the clinic can't take payments"),
            },
            body=_body({"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}),
            parameters=[PR_ID],
        )
    },
    "/api/v1/payment-requests/{id}/confirmation": {
        "post": _operation(
            "The patient's browser reports Stripe.js's result; the server checks it with Stripe",
            {"200": _json_response("The request as it now stands", _ref("PaymentRequest")), **COMMON_ERRORS},
            parameters=[PR_ID],
        )
    },
    "/api/v1/payment-requests/{id}/receipt.pdf": {
        "get": _operation(
            "The receipt as PDF (the call's patient, or staff of the clinic)",
            {"200": {"description": "PDF", "content": {"application/pdf": {}}}, **COMMON_ERRORS},
            parameters=[PR_ID],
        )
    },
    "/api/v1/payment-requests/{id}/receipt": {
        "get": _operation(
            "The receipt as JSON, as the PDF shows it (the call's patient, or staff of the clinic)",
            {
                "200": _json_response(
                    "The receipt",
                    {
                        "type": "object",
                        "required": ["payment_request", "receipt_number", "business_name", "amount", "currency"],
                        "properties": {
                            "payment_request": {"type": "string"},
                            "receipt_number": {"type": "string"},
                            "status": {"type": "string"},
                            "business_name": {"type": "string"},
                            "abn": {"type": ["string", "null"]},
                            "provider_name": {"type": "string"},
                            "provider_number": {"type": ["string", "null"]},
                            "address": {"type": ["string", "null"]},
                            "phone": {"type": ["string", "null"]},
                            "service_date": {"type": "string", "format": "date"},
                            "paid_at": {"type": ["string", "null"], "format": "date-time"},
                            "description": {"type": "string"},
                            "amount": {"type": "integer"},
                            "amount_refunded": {"type": "integer"},
                            "currency": {"type": "string"},
                            "amount_display": {"type": "string"},
                            "outstanding_display": {"type": "string"},
                            "card_brand": {"type": ["string", "null"]},
                            "card_last4": {"type": ["string", "null"]},
                            "card_display": {"type": ["string", "null"]},
                        },
                    },
                ),
                **COMMON_ERRORS,
            },
            parameters=[PR_ID],
        )
    },
    "/api/v1/payments": {
        "get": _operation(
            "The payments staff may see, filtered, sorted and paged, with totals per currency over the whole "
            "filtered set (team admins: the clinic; clinicians: their own; org admins: every clinic of the "
            "organisation). format=csv streams the same rows as CSV.",
            {
                "200": {
                    "description": "One page, the totals and the next page's cursor (null on the last page)",
                    "content": {JSON: {"schema": _ref("PaymentList")}, "text/csv": {}},
                },
                "403": _error_response("Not staff"),
            },
            parameters=[
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
                for name, text in (
                    ("status", "May repeat or be comma-separated; 'unpaid' means requested or failed"),
                    ("from", "YYYY-MM-DD (clinic time) or an ISO time, on created_at"),
                    ("to", "YYYY-MM-DD (clinic time, the whole day) or an ISO time, on created_at"),
                    ("clinician", "The clinician's platform user id"),
                    ("clinic", "The clinic's platform id (org admins)"),
                    ("currency", "ISO 4217, e.g. aud"),
                    ("amount_min", "As people write it (80.00), in each payment's currency"),
                    ("amount_max", "As people write it (80.00), in each payment's currency"),
                    ("q", "Text in the description, receipt number, patient email or name"),
                    ("sort", "created_at or amount; a leading '-' for newest or largest first (default -created_at)"),
                    ("limit", "1 to 200 (default 50)"),
                    ("cursor", "next_cursor of the previous page"),
                    ("format", "json (default) or csv"),
                )
            ],
        )
    },
    "/api/v1/payment-requests/{id}": {
        "get": _operation(
            "One payment request with its refunds and timeline (the call's patient, or staff of the clinic)",
            {"200": _json_response("The request", _ref("PaymentRequest")), **COMMON_ERRORS},
            parameters=[PR_ID],
        )
    },
    "/api/v1/payment-requests/{id}/refunds": {
        "post": _operation(
            "Refund a paid request in full or in part (team admins; its clinician when the clinic allows it). No "
            "amount refunds what is left; the same client_ref twice makes one refund.",
            {
                "201": _json_response("The refund asked for, and the request", _ref("RefundResult")),
                "200": _json_response("The same client_ref again: the refund it made", _ref("RefundResult")),
                "403": _error_response("Not allowed to refund this payment"),
                "409": _error_response("refund_too_large (the message says how much is left), or not paid"),
                "502": _error_response("Stripe unreachable: asking again with the same client_ref is safe"),
                **COMMON_ERRORS,
            },
            body=_body(
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "amount": {
                            "type": ["integer", "string"],
                            "description": "Minor units, or text such as 40.00 in the payment's currency",
                        },
                        "reason": {"type": "string", "maxLength": 500},
                        "client_ref": {"type": "string", "maxLength": 100},
                    },
                },
                required=False,
            ),
            parameters=[PR_ID],
        )
    },
    "/api/v1/payment-requests/{id}/receipt/resend": {
        "post": _operation(
            "Send the receipt again, to the patient's address or a corrected one (team admins; its clinician)",
            {
                "202": _json_response(
                    "Queued",
                    {
                        "type": "object",
                        "required": ["email", "payment_request"],
                        "properties": {"email": {"type": "string"}, "payment_request": _ref("PaymentRequest")},
                    },
                ),
                "403": _error_response("Not allowed to resend this receipt"),
                "409": _error_response("No receipt yet, or just sent"),
                **COMMON_ERRORS,
            },
            body=_body(
                {"type": "object", "additionalProperties": False, "properties": {"email": {"type": "string"}}},
                required=False,
            ),
            parameters=[PR_ID],
        )
    },
    "/api/v1/clinic/status": {
        "get": _operation(
            "Whether the session's clinic can take payments now, and if not why (staff of the clinic)",
            {"200": _json_response("The status", _ref("ClinicStatus")), "403": _error_response("Not staff")},
        )
    },
    "/api/v1/clinic": {
        "get": _operation(
            "Configure > Client Payments: the linked Stripe account, settings and notices (clinic admins)",
            {"200": _json_response("The clinic's configuration", _ref("ClinicConfig")), "403": _error_response("Role")},
        )
    },
    "/api/v1/clinic/settings": {
        "patch": _operation(
            "Change the clinic's payment settings (clinic admins); audit-logged",
            {"200": _json_response("The clinic's configuration", _ref("ClinicConfig")), "403": _error_response("Role")},
            body=_body(_ref("ClinicSettings")),
        )
    },
    "/api/v1/clinic/stripe/connect": {
        "post": _operation(
            "Start Connect OAuth: a single-use, 10-minute Stripe authorize address to open top-level (clinic admins)",
            {
                "201": _json_response(
                    "Where to send the admin",
                    {
                        "type": "object",
                        "required": ["authorize_url"],
                        "properties": {"authorize_url": {"type": "string"}},
                    },
                ),
                "403": _error_response("Role"),
                "409": _error_response("A Stripe account is already linked"),
            },
        )
    },
    "/api/v1/clinic/stripe/disconnect": {
        "post": _operation(
            "Remove the Stripe account: deauthorize on Stripe, then unlink (clinic admins); audit-logged",
            {
                "200": _json_response("The clinic's configuration", _ref("ClinicConfig")),
                "403": _error_response("Role"),
                "409": _error_response("No Stripe account is linked"),
                "502": _error_response("Stripe could not be reached; nothing changed"),
            },
        )
    },
    "/api/v1/clinic/stripe/accounts": {
        "post": _operation(
            "Create one for this clinic: a Stripe account made by the platform, linked at once, and the address of "
            "Stripe's hosted onboarding to open top-level (clinic admins); audit-logged",
            {
                "201": _json_response("Where to send the admin", _ONBOARDING_LINK),
                "400": _error_response("Unknown country"),
                "403": _error_response("Role"),
                "409": _error_response("A Stripe account is already linked, or the platform doesn't offer this"),
                "502": _error_response("Stripe could not be reached"),
            },
            body=_body({"type": "object", "required": ["country"], "properties": {"country": {"type": "string"}}}),
        )
    },
    "/api/v1/clinic/stripe/onboarding-link": {
        "post": _operation(
            "Finish on Stripe: a fresh, single-use address of Stripe's hosted onboarding for the linked account that "
            "the platform made (clinic admins)",
            {
                "201": _json_response("Where to send the admin", _ONBOARDING_LINK),
                "403": _error_response("Role"),
                "409": _error_response("No account linked, or it is the clinic's own (finished in its dashboard)"),
                "502": _error_response("Stripe could not be reached"),
            },
        )
    },
    "/api/v1/clinic/stripe/relink": {
        "post": _operation(
            "Link again an account the platform made for this clinic before (clinic admins); audit-logged",
            {
                "200": _json_response("The clinic's configuration", _ref("ClinicConfig")),
                "403": _error_response("Role"),
                "404": _error_response("Not an account this clinic had"),
                "409": _error_response("An account is linked, or this one is linked again on Stripe (OAuth)"),
                "502": _error_response("Stripe could not be reached"),
            },
            body=_body(
                {"type": "object", "required": ["account_id"], "properties": {"account_id": {"type": "string"}}}
            ),
        )
    },
    "/api/v1/org/clinics": {
        "get": _operation(
            "The organisation's clinics with the add-on switch (org admins)",
            {
                "200": _json_response(
                    "The clinics",
                    {
                        "type": "object",
                        "properties": {
                            "org": {"type": "object"},
                            "clinics": {"type": "array", "items": _ref("OrgClinic")},
                        },
                    },
                ),
                "403": _error_response("Role"),
            },
        )
    },
    "/api/v1/org/clinics/{clinic}": {
        "patch": _operation(
            "Turn the add-on on or off for one clinic (org admins); audit-logged, announced as clinic_status",
            {
                "200": _json_response("The clinic", _ref("OrgClinic")),
                "403": _error_response("Role"),
                "404": _error_response("No such clinic in your organisation"),
            },
            body=_body(
                {"type": "object", "required": ["addon_enabled"], "properties": {"addon_enabled": {"type": "boolean"}}}
            ),
            parameters=[{"name": "clinic", "in": "path", "required": True, "schema": {"type": "string"}}],
        )
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Callpay API",
            "version": __version__,
            "description": "In-call payments for telehealth video calls. Amounts are integers in the currency's "
            'minor unit; errors are {"error": {"code", "message", "field"?}}.',
        },
        "servers": [{"url": "/"}],
        "security": [{"session": []}],
        "components": {
            "securitySchemes": {"session": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
        "paths": PATHS,
    }


async def serve(_request: web.Request) -> web.Response:
    return web.json_response(document())


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", serve)
