"""Every ``/api/v1`` route of the contract: method, path, body, query and answers, as models.

Routes that the app doesn't serve yet are described here too, so the engineer who builds one only writes its
handler: the OpenAPI document lists a route from the moment the app serves it (see :mod:`addon.wire.document`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from addon.wire import clinic, links, payments, plans, profile, receipts, saved_cards, sessions
from addon.wire.base import Incoming

Method = Literal["get", "post", "patch", "put", "delete"]
Auth = Literal["session", "none", "platform"]


@dataclass(frozen=True)
class Binary:
    """An answer that isn't JSON (a PDF, a CSV export)."""

    content_type: str
    description: str


@dataclass(frozen=True)
class Route:
    method: Method
    path: str
    summary: str
    answer: type[BaseModel] | Binary | None
    status: int = 200
    body: type[Incoming] | None = None
    query: type[Incoming] | None = None
    # Other successes answered with the same model (a repeat answered 200 where the first was 201).
    also: Mapping[int, str] = field(default_factory=dict)
    # Other ways a success can be answered, by content type (``format=csv``).
    alternatives: tuple[Binary, ...] = ()
    errors: Mapping[int, str] = field(default_factory=dict)
    # session: ``Authorization: Bearer <session token>``; platform: a launch-signed JWT; none: public.
    auth: Auth = "session"

    @property
    def path_parameters(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


NOT_FOUND = {404: "No such payment request in your call or clinic"}
STAFF_ONLY = {403: "Your role can't do this"}

ROUTES: tuple[Route, ...] = (
    Route(
        "post",
        "/api/v1/sessions",
        "Exchange a launch token for a session token (consumes the launch)",
        sessions.Session,
        status=201,
        body=sessions.SessionBody,
        errors={401: "Bad, expired, replayed or wrongly-signed launch"},
        auth="none",
    ),
    Route(
        "delete",
        "/api/v1/sessions/current",
        "Sign out: end the caller's session now; its sockets are disconnected, on every worker",
        None,
        status=204,
    ),
    Route("get", "/api/v1/openapi.json", "This document", None, auth="none"),
    Route(
        "post",
        "/api/v1/payment-requests/{id}/checkout",
        "Start or resume paying a request (patient of its call); repeating returns the same PaymentIntent",
        payments.Checkout,
        body=payments.CheckoutBody,
        errors={
            **NOT_FOUND,
            403: "Only the request's payer may pay it (not_payer)",
            409: "Already paid or canceled, or the clinic can't take payments",
            502: "Stripe could not be reached",
        },
    ),
    Route(
        "post",
        "/api/v1/calls/{call}/checkout",
        "Pay several open requests of the call at once: one PaymentIntent for their sum, one receipt listing each",
        payments.Checkout,
        body=payments.CallCheckoutBody,
        errors={
            404: "Not the call you are in",
            409: "An id that isn't payable by this patient in this call, named in payment_requests; nothing charged. "
            "set_changed: one stopped being payable while paying (remaining, amount: the new set and total)",
            502: "Stripe could not be reached",
        },
    ),
    Route(
        "get",
        "/api/v1/calls/{call}/pay-all",
        "What this patient may pay at once in the call now (Pay all): the ids and their sum; the page asks again "
        "whenever a request of the call changes",
        payments.PayAllOffer,
        errors={403: "Only a patient of the call pays", 404: "Not the call you are in"},
    ),
    Route(
        "post",
        "/api/v1/payment-requests/{id}/paying",
        "The payer's page says they are paying now (checkout open, card being confirmed) or stopped; it lapses by "
        "itself when not renewed, and its clinician sees it",
        payments.PaymentRequest,
        body=payments.PayingBody,
        errors={
            **NOT_FOUND,
            403: "Only the request's payer may pay it (not_payer)",
            409: "Already paid or canceled, or another patient is paying it: nothing to say now",
        },
    ),
    Route(
        "post",
        "/api/v1/payment-requests/{id}/confirmation",
        "The patient's browser reports Stripe.js's result; the server checks it with Stripe",
        payments.PaymentRequest,
        errors={**NOT_FOUND, 409: "No payment started yet", 502: "Stripe could not be reached"},
    ),
    Route(
        "get",
        "/api/v1/payment-requests/{id}",
        "One PaymentRequest with its refunds and timeline (the call's patient, or the clinic's staff)",
        payments.PaymentRequestView,
        errors=NOT_FOUND,
    ),
    Route(
        "get",
        "/api/v1/payment-requests/{id}/receipt.pdf",
        "The receipt as PDF (the call's patient, or staff of the clinic)",
        Binary("application/pdf", "The receipt"),
        errors={**NOT_FOUND, 409: "No receipt yet"},
    ),
    Route(
        "get",
        "/api/v1/payment-requests/{id}/receipt",
        "The receipt as JSON, as the PDF shows it (the call's patient, or staff of the clinic)",
        receipts.Receipt,
        errors={**NOT_FOUND, 409: "No receipt yet"},
    ),
    Route(
        "post",
        "/api/v1/payment-requests/{id}/refunds",
        "Refund a paid request, in full (no amount) or in part (the clinic's admins; clinicians when allowed)",
        payments.RefundCreated,
        status=201,
        also={200: "The same client_ref again: the refund it made"},
        body=payments.RefundBody,
        errors={**NOT_FOUND, **STAFF_ONLY, 409: "More than what is left (refund_too_large), or not refundable"},
    ),
    Route(
        "post",
        "/api/v1/payment-requests/{id}/receipt/resend",
        "Send the receipt again, to the patient's address or a corrected one (team admins; its clinician)",
        payments.ReceiptResent,
        status=202,
        body=payments.ResendReceiptBody,
        errors={**NOT_FOUND, **STAFF_ONLY, 409: "No receipt yet, or just sent"},
    ),
    Route(
        "get",
        "/api/v1/profile",
        "The signed-in clinician's own details on receipts (their provider number)",
        profile.Profile,
        errors=STAFF_ONLY,
    ),
    Route(
        "patch",
        "/api/v1/profile",
        "Set the signed-in clinician's provider number (a launch's provider_number claim, when sent, wins)",
        profile.Profile,
        body=profile.ProfileBody,
        errors=STAFF_ONLY,
    ),
    Route(
        "get",
        "/api/v1/payments",
        "Payments of the clinic, filtered, with totals over the whole filtered set (clinicians: their own)",
        payments.PaymentsPage,
        query=payments.PaymentsQuery,
        alternatives=(Binary("text/csv", "format=csv: a header row, amounts in major units (80.00)"),),
        errors=STAFF_ONLY,
    ),
    Route(
        "post",
        "/api/v1/payment-links",
        "Make a pay-later link (staff); emailed when the email is known",
        links.PaymentLink,
        status=201,
        body=links.PaymentLinkBody,
        errors=STAFF_ONLY,
    ),
    Route(
        "get",
        "/api/v1/payment-links",
        "The clinic's pay-later links (staff)",
        links.PaymentLinksPage,
        query=links.PaymentLinksQuery,
        errors=STAFF_ONLY,
    ),
    Route(
        "post",
        "/api/v1/payment-links/{id}/cancel",
        "Cancel a pay-later link (staff of the clinic)",
        links.PaymentLink,
        errors={**STAFF_ONLY, 404: "No such link in your clinic", 409: "Already paid"},
    ),
    Route(
        "post",
        "/api/v1/payment-links/{id}/remind",
        "Email the link again (staff of the clinic); at most once an hour",
        links.PaymentLink,
        body=links.PaymentLinkRemindBody,
        errors={
            **STAFF_ONLY,
            404: "No such link in your clinic",
            429: "Sooner than an hour after the last (rate_limited); see Retry-After",
        },
    ),
    Route(
        "get",
        "/api/v1/payment-links/{id}/qr.svg",
        "The link as a QR code, drawn by Callpay (staff of the clinic)",
        Binary("image/svg+xml", "An SVG QR code of the link's address"),
        errors={**STAFF_ONLY, 404: "No such link in your clinic"},
    ),
    Route(
        "get",
        "/api/v1/pay/{token}",
        "A pay-later link's public view; the token is the authority",
        links.PublicPaymentLink,
        errors={409: "Paid (link_paid)", 410: "Expired, canceled or unknown (link_unavailable)"},
        auth="none",
    ),
    Route(
        "post",
        "/api/v1/pay/{token}/checkout",
        "Pay a pay-later link; answered as …/checkout",
        payments.Checkout,
        body=links.PayLinkCheckoutBody,
        errors={409: "Paid (link_paid)", 410: "Expired, canceled or unknown (link_unavailable)"},
        auth="none",
    ),
    Route(
        "post",
        "/api/v1/pay/{token}/confirmation",
        "The link's page says Stripe.js confirmed: Callpay asks Stripe and answers the request it pays",
        payments.PaymentRequest,
        errors={409: "No payment started yet (no_payment)", 410: "Unknown token (link_unavailable)"},
        auth="none",
    ),
    Route(
        "get",
        "/api/v1/pay/{token}/receipt.pdf",
        "The receipt of a paid link, for whoever holds the link",
        Binary("application/pdf", "The receipt as a PDF"),
        errors={404: "Not paid yet, or no such link"},
        auth="none",
    ),
    Route(
        "post",
        "/api/v1/platform/calls/{call}/ended",
        "The host platform says a call is over: what became of each unpaid request; holds are charged",
        links.CallEnded,
        errors={403: "The clinic or org isn't the call's"},
        auth="platform",
    ),
    Route(
        "get",
        "/api/v1/clinic/status",
        "Whether the session's clinic can take payments now, and if not why (staff of the clinic)",
        clinic.ClinicStatus,
        errors=STAFF_ONLY,
    ),
    Route(
        "get",
        "/api/v1/clinic",
        "Configure > Client Payments: the linked Stripe account, settings and notices (clinic admins)",
        clinic.ClinicConfig,
        errors=STAFF_ONLY,
    ),
    Route(
        "patch",
        "/api/v1/clinic/settings",
        "Change the clinic's payment settings (clinic admins); audit-logged",
        clinic.ClinicConfig,
        body=clinic.ClinicSettingsPatch,
        errors=STAFF_ONLY,
    ),
    Route(
        "post",
        "/api/v1/clinic/stripe/connect",
        "Start Connect OAuth: a single-use, 10-minute Stripe authorize address to open top-level (clinic admins)",
        clinic.AuthorizeUrl,
        status=201,
        errors={**STAFF_ONLY, 409: "A Stripe account is already linked"},
    ),
    Route(
        "post",
        "/api/v1/clinic/stripe/disconnect",
        "Remove the Stripe account: deauthorize on Stripe, then unlink (clinic admins); audit-logged",
        clinic.ClinicConfig,
        errors={**STAFF_ONLY, 409: "No Stripe account is linked", 502: "Stripe could not be reached; nothing changed"},
    ),
    Route(
        "post",
        "/api/v1/clinic/stripe/accounts",
        "Create one for this clinic: a Stripe account made by the platform, linked at once, and the address of "
        "Stripe's hosted onboarding to open top-level (clinic admins); audit-logged",
        clinic.OnboardingUrl,
        status=201,
        body=clinic.CreateAccount,
        errors={
            **STAFF_ONLY,
            409: "A Stripe account is already linked, or the platform doesn't offer this way",
            502: "Stripe could not be reached",
        },
    ),
    Route(
        "post",
        "/api/v1/clinic/stripe/onboarding-link",
        "Finish on Stripe: a fresh address of Stripe's hosted onboarding for the account made here (clinic admins)",
        clinic.OnboardingUrl,
        status=201,
        errors={
            **STAFF_ONLY,
            409: "No account is linked, or it is the clinic's own (finished in its Stripe dashboard)",
            502: "Stripe could not be reached",
        },
    ),
    Route(
        "post",
        "/api/v1/clinic/stripe/relink",
        "Link again an account made here for this clinic before (clinic admins); audit-logged",
        clinic.ClinicConfig,
        body=clinic.Relink,
        errors={
            **STAFF_ONLY,
            404: "Not an account this clinic had",
            409: "An account is linked, or this one is the clinic's own (linked again on Stripe)",
            502: "Stripe could not be reached",
        },
    ),
    Route(
        "get",
        "/api/v1/org/clinics",
        "The organisation's clinics with the add-on switch (org admins)",
        clinic.OrgClinics,
        errors=STAFF_ONLY,
    ),
    Route(
        "patch",
        "/api/v1/org/clinics/{clinic}",
        "Turn the add-on on or off for one clinic (org admins); audit-logged, announced as clinic_status",
        clinic.OrgClinic,
        body=clinic.AddonSwitch,
        errors={**STAFF_ONLY, 404: "No such clinic in your organisation"},
    ),
    # A card on file: the patient saves one at join (with consent) and may remove it; staff charge fees to it.
    Route(
        "get",
        "/api/v1/saved-card",
        "The patient's card on file for this clinic: whether to ask now, the policy, and the card if saved",
        saved_cards.SavedCardOffer,
        errors={403: "Patients only"},
    ),
    Route(
        "post",
        "/api/v1/saved-card/setup",
        "The patient agrees to the policy shown: consent recorded, and a SetupIntent for Stripe.js's confirmSetup",
        saved_cards.SavedCardSetup,
        body=saved_cards.SavedCardSetupBody,
        errors={
            403: "Patients only",
            409: "Saved cards are off, the policy changed (policy_changed), or a card is already saved",
            502: "Stripe could not be reached",
        },
    ),
    Route(
        "post",
        "/api/v1/saved-card/decline",
        "Not now: the patient joins without saving a card and is not asked again in this call",
        saved_cards.SavedCardOffer,
        errors={403: "Patients only"},
    ),
    Route(
        "post",
        "/api/v1/saved-card/confirmation",
        "The browser says confirmSetup finished; Callpay asks Stripe and saves the card if it succeeded",
        saved_cards.SavedCardOffer,
        errors={403: "Patients only", 409: "No card being saved (no_setup)", 502: "Stripe could not be reached"},
    ),
    Route(
        "post",
        "/api/v1/saved-cards/{id}/remove",
        "The patient removes their saved card: detached at Stripe, marked removed; audit-logged",
        saved_cards.SavedCard,
        errors={403: "Patients only", 404: "Not the patient's card", 502: "Stripe could not be reached"},
    ),
    Route(
        "get",
        "/api/v1/saved-cards",
        "The clinic's saved cards with their consent, the fees it may charge, and whether the caller may (staff)",
        saved_cards.SavedCardsPage,
        query=saved_cards.SavedCardsQuery,
        errors=STAFF_ONLY,
    ),
    Route(
        "post",
        "/api/v1/saved-cards/{id}/fees",
        "Charge the clinic's no-show or late-cancellation fee to a saved card, citing a call (team admins; "
        "clinicians when allowed); declined or needing the patient: a pay-later link is emailed instead",
        saved_cards.FeeCharged,
        status=201,
        body=saved_cards.ChargeFeeBody,
        also={200: "A repeat (the same fee for the same call and patient): what the first did"},
        errors={
            **STAFF_ONLY,
            404: "No such saved card in your clinic",
            409: "The fee isn't set (fee_not_set), or the card was removed (card_removed)",
            502: "Stripe could not be reached; nothing charged, try again",
        },
    ),
    Route(
        "post",
        "/api/v1/payment-requests/{id}/plan",
        "Split an unpaid request over the clinic's plan_min_amount into 2-12 instalments, weekly, fortnightly or "
        "monthly (its clinician, or a team admin): the request is cancelled, the first instalment is a request to "
        "pay now, the rest are charged on their dates to the saved card or sent as pay-later links",
        plans.Plan,
        status=201,
        body=plans.OfferPlanBody,
        also={200: "A repeat: the plan already made from this request"},
        errors={
            **STAFF_ONLY,
            404: "No such request in your clinic",
            409: "Plans are off (plans_off), the amount is not over the minimum (below_plan_minimum), or the request "
            "is paid, closed or being paid (not_splittable)",
        },
    ),
    Route(
        "get",
        "/api/v1/plans",
        "The clinic's instalment plans (a clinician's own), newest first",
        plans.PlansPage,
        query=plans.PlansQuery,
        errors=STAFF_ONLY,
    ),
    Route(
        "get",
        "/api/v1/plans/{id}",
        "One plan: its schedule, what is paid and outstanding, its next date",
        plans.Plan,
        errors={**STAFF_ONLY, 404: "No such plan in your clinic"},
    ),
    Route(
        "post",
        "/api/v1/plans/{id}/cancel",
        "Cancel a plan (its clinician, or a team admin): no more instalments are charged or sent",
        plans.Plan,
        errors={**STAFF_ONLY, 404: "No such plan in your clinic", 409: "The plan is complete (plan_completed)"},
    ),
)


def route(method: Method, path: str) -> Route:
    """The contract's description of one route (a KeyError for a route the contract doesn't have)."""
    for candidate in ROUTES:
        if (candidate.method, candidate.path) == (method, path):
            return candidate
    raise KeyError(f"{method.upper()} {path} is not in the contract: describe it in addon/wire/routes.py")
