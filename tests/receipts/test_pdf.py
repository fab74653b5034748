from __future__ import annotations

from datetime import UTC, date, datetime

from addon.receipts_pdf import render_receipt_pdf
from addon.services.receipts import Receipt, build_receipt_email
from tests.receipts.conftest import pdf_text


def receipt(**overrides: object) -> Receipt:
    values: dict[str, object] = {
        "request_id": "pr_1",
        "receipt_number": "HT-000042",
        "status": "paid",
        "clinic_name": "Harbour Telehealth Pty Ltd",
        "business_name": "Harbour Telehealth Pty Ltd",
        "abn": "51 824 753 556",
        "provider_name": "Dr Ada Lovelace",
        "provider_number": "2426351K",
        "address": "1 Harbour St\nSydney NSW 2000",
        "phone": "02 9000 0000",
        "footer": "Keep this receipt to claim from Medicare or your health fund.",
        "service_date": date(2026, 11, 21),
        "paid_at": datetime(2026, 11, 21, 1, 2, tzinfo=UTC),
        "description": "Consultation, 20 minutes",
        "amount": 8000,
        "amount_refunded": 0,
        "currency": "aud",
        "card_brand": "visa",
        "card_last4": "4242",
    }
    values.update(overrides)
    return Receipt(**values)  # type: ignore[arg-type]


def test_the_pdf_carries_everything_a_claim_needs() -> None:
    pdf = render_receipt_pdf(receipt())
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    for expected in (
        "Harbour Telehealth Pty Ltd",
        "ABN 51 824 753 556",
        "1 Harbour St",
        "Sydney NSW 2000",
        "Phone 02 9000 0000",
        "Receipt number HT-000042",
        "Service date",
        "21 November 2026",
        "Dr Ada Lovelace",
        "2426351K",
        "Consultation, 20 minutes",
        "Amount charged",
        "Paid",
        "Outstanding",
        "A$80.00",
        "A$0.00",
        "Visa ending in 4242",
        "Keep this receipt to claim from Medicare or your health fund.",
    ):
        assert expected in text, expected


def test_a_refund_shows_on_the_receipt() -> None:
    text = pdf_text(render_receipt_pdf(receipt(status="partially_refunded", amount_refunded=2000)))
    assert "Receipt (partly refunded)" in text
    assert "Refunded" in text
    assert "A$20.00" in text


def test_text_the_core_fonts_cannot_draw_still_renders() -> None:
    pdf = render_receipt_pdf(receipt(business_name="Clínica Zoë 診療所", currency="inr", amount=150000))
    text = pdf_text(pdf)
    assert "Clínica Zoë" in text  # Windows-1252 covers these letters
    assert "INR 1,500.00" in text  # the rupee sign isn't in the core fonts: its code stands in


def test_the_email_has_text_html_and_the_pdf() -> None:
    message = build_receipt_email(receipt(), to_address="pat@example.com", mail_from="Callpay <receipts@callpay.test>")
    assert message["To"] == "pat@example.com"
    assert message["Subject"] == "Your receipt from Harbour Telehealth Pty Ltd — A$80.00"
    assert "receipts@callpay.test" in message["From"]
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and "A$80.00" in text.get_content() and "HT-000042" in text.get_content()
    assert html is not None and "<strong>A$80.00</strong>" in html.get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "receipt-HT-000042.pdf"


def test_html_in_clinic_details_is_escaped_in_the_email() -> None:
    message = build_receipt_email(
        receipt(description="<script>alert(1)</script>"), to_address="p@example.com", mail_from="r@callpay.test"
    )
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert "<script>" not in html.get_content()
    assert "&lt;script&gt;" in html.get_content()
