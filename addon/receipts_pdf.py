"""The receipt as a one-page PDF (fpdf2), laid out so a patient can claim with it.

Only the PDF core fonts are used, so nothing has to be installed on the server. They cover Windows-1252 (every
Western European letter, "€", "£", "¥"); anything else is transliterated (accents dropped) or, for a currency symbol,
replaced by its ISO code, so a receipt never fails to render.
"""

from __future__ import annotations

import unicodedata

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from addon import dates
from addon.money import exponent, format_amount
from addon.receipt_content import Receipt

ENCODING = "cp1252"
INK = (26, 31, 54)
MUTED = (79, 86, 107)
LINE = (213, 219, 227)


def render_receipt_pdf(receipt: Receipt) -> bytes:
    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = ENCODING
    pdf.set_title(_text(f"{receipt.title} {receipt.receipt_number}"))
    pdf.set_author(_text(receipt.business_name))
    pdf.set_creator("Callpay")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    width = pdf.epw

    pdf.set_text_color(*INK)
    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(width, 10, _text(receipt.business_name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    pdf.set_text_color(*MUTED)
    for line in _issuer_lines(receipt):
        pdf.cell(width, 5, _text(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.ln(6)
    pdf.set_text_color(*INK)
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(width / 2, 8, receipt.title)
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(
        width / 2, 8, _text(f"Receipt number {receipt.receipt_number}"), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    _rule(pdf)

    rows: list[tuple[str, str]] = []
    if receipt.patient_name:
        rows.append(("Patient", receipt.patient_name))
    if receipt.paid_by:
        rows.append(("Paid by", receipt.paid_by))
    rows += [("Service date", receipt.service_date_display), ("Provider", receipt.provider_name)]
    if receipt.provider_number:
        rows.append(("Provider number", receipt.provider_number))
    if receipt.paid_on_display:
        rows.append(("Date paid", receipt.paid_on_display))
    if receipt.card_display:
        rows.append(("Paid with", receipt.card_display))
    if receipt.refund is not None:
        rows.append(("Refund", receipt.refund_words(receipt.refund)))
        if receipt.refund.reason:
            rows.append(("Reason", receipt.refund.reason))
    _rows(pdf, rows)
    _rule(pdf)

    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(width * 0.2, 8, "Item number")
    pdf.cell(width * 0.5, 8, "Item")
    pdf.cell(width * 0.3, 8, "Amount", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 11)
    for item in receipt.items:
        y = pdf.get_y()
        pdf.cell(width * 0.2, 6, _text(item.item_code or "-"))
        label = item.description
        if receipt.several and item.receipt_number:
            label = f"{label} (receipt {item.receipt_number})"
        pdf.multi_cell(width * 0.5, 6, _text(label), new_x=XPos.RIGHT, new_y=YPos.TOP)
        after = pdf.get_y()
        pdf.set_xy(pdf.l_margin + width * 0.7, y)
        pdf.cell(width * 0.3, 6, _money(item.amount, receipt), align="R")
        pdf.set_y(max(after, y + 6))
    _rule(pdf)

    totals: list[tuple[str, str, bool]] = [
        ("Amount charged", _money(receipt.amount, receipt), False),
        ("Paid", _money(receipt.amount, receipt), True),
    ]
    for refund in receipt.refunds:
        totals.append((f"Refunded {dates.format_date(refund.refunded_on)}", _money(refund.amount, receipt), False))
    if receipt.amount_refunded and not receipt.refunds:
        totals.append(("Refunded", _money(receipt.amount_refunded, receipt), False))
    totals.append(("Outstanding", _money(receipt.outstanding, receipt), False))
    for label, value, bold in totals:
        pdf.set_font("Helvetica", "B" if bold else "", 11)
        pdf.cell(width * 0.7, 7, label, align="R")
        pdf.cell(width * 0.3, 7, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if receipt.gst_line:
        pdf.set_font("Helvetica", "", 10)
        pdf.set_text_color(*MUTED)
        pdf.cell(width, 7, _text(receipt.gst_line), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    if receipt.plan_note and receipt.refund is None:
        pdf.ln(4)
        pdf.set_font("Helvetica", "", 10)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(width, 5, _text(receipt.plan_note), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.ln(8)
    pdf.set_font("Helvetica", "", 9)
    pdf.set_text_color(*MUTED)
    footer = receipt.footer or "Thank you. Keep this receipt for your records or to make a claim."
    pdf.multi_cell(width, 5, _text(footer), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def _issuer_lines(receipt: Receipt) -> list[str]:
    lines = []
    if receipt.abn:
        lines.append(f"ABN {receipt.abn}")
    if receipt.address:
        lines.extend(part.strip() for part in receipt.address.splitlines() if part.strip())
    if receipt.phone:
        lines.append(f"Phone {receipt.phone}")
    return lines


def _rows(pdf: FPDF, rows: list[tuple[str, str]]) -> None:
    width = pdf.epw
    for label, value in rows:
        pdf.set_font("Helvetica", "", 10)
        pdf.set_text_color(*MUTED)
        pdf.cell(width * 0.3, 6, label)
        pdf.set_font("Helvetica", "", 11)
        pdf.set_text_color(*INK)
        pdf.cell(width * 0.7, 6, _text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _rule(pdf: FPDF) -> None:
    pdf.ln(2)
    pdf.set_draw_color(*LINE)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + pdf.epw, pdf.get_y())
    pdf.ln(3)


def _money(minor: int, receipt: Receipt) -> str:
    shown = format_amount(minor, receipt.currency)
    if _encodable(shown):
        return shown
    places = exponent(receipt.currency)
    return f"{receipt.currency.upper()} {minor / 10**places:,.{places}f}"


def _text(value: str) -> str:
    """``value`` in what the core fonts can draw: each other letter loses its accent, or becomes "?"."""
    return "".join(c if _encodable(c) else _fallback(c) for c in value)


def _fallback(char: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base and _encodable(base) else "?"


def _encodable(value: str) -> bool:
    try:
        value.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True
