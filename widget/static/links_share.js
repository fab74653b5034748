// Sharing a pay-later link, the same on the clinician panel and in the payment centre: the address with a Copy
// button, a ready text for SMS or WhatsApp, a QR code drawn by the server (for a patient still on video), and
// Remind (email it again; the server allows once an hour and says when it was last sent).

import { api, request } from "/static/session.js";
import { element } from "/widget/static/view.js";

async function copy(text, button) {
  const before = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy it";
  }
  window.setTimeout(() => { button.textContent = before; }, 2000);
}

async function showQr(link, holder, button) {
  button.disabled = true;
  try {
    const response = await request(`/api/v1/payment-links/${encodeURIComponent(link.id)}/qr.svg`, {
      accept: "image/svg+xml",
    });
    const url = URL.createObjectURL(await response.blob());
    holder.replaceChildren(element("img", {
      className: "pl-qr", attrs: { src: url, alt: `QR code for the pay-later link for ${link.description}` },
    }));
    button.hidden = true;
  } catch (error) {
    holder.replaceChildren(element("p", { className: "field-error", text: error.message }));
    button.disabled = false;
  }
}

// The share box for one active link; `onChange(link)` hears the link as the server returns it after Remind.
export function shareBox(link, { onChange = () => {}, announce = () => {} } = {}) {
  const box = element("div", { className: "pl-share", attrs: { "data-testid": "link-share" } });
  const urlId = `pl-url-${link.id}`;
  const textId = `pl-text-${link.id}`;
  const url = element("input", { attrs: { id: urlId, readonly: "", value: link.url, "data-testid": "link-url" } });
  const copyUrl = element("button", { className: "secondary", text: "Copy link", attrs: { type: "button" } });
  copyUrl.addEventListener("click", () => copy(link.url, copyUrl));
  const text = element("textarea", { attrs: { id: textId, readonly: "", rows: "3" } });
  text.value = link.share_text;
  const copyText = element("button", { className: "secondary", text: "Copy text for SMS or WhatsApp",
    attrs: { type: "button" } });
  copyText.addEventListener("click", () => copy(link.share_text, copyText));
  const qrHolder = element("div", { className: "pl-qr-holder" });
  const qr = element("button", { className: "secondary", text: "Show QR code", attrs: { type: "button" } });
  qr.addEventListener("click", () => showQr(link, qrHolder, qr));
  const remindNote = element("p", { className: "muted pl-remind-note", attrs: { role: "status" } });
  remindNote.textContent = link.last_reminded_display ? `Last sent ${link.last_reminded_display}.` : "";
  const remind = element("button", { className: "secondary",
    text: link.email ? `Email it again to ${link.email}` : "Email it", attrs: { type: "button", "data-testid": "link-remind" } });
  remind.addEventListener("click", async () => {
    let email = link.email;
    if (!email) {
      email = window.prompt("The patient's email address:") || "";
      if (!email) return;
    }
    remind.disabled = true;
    try {
      const updated = await api(`/api/v1/payment-links/${encodeURIComponent(link.id)}/remind`, {
        method: "POST", body: email === link.email ? {} : { email },
      });
      remindNote.textContent = `Sent to ${updated.email}. Last sent ${updated.last_reminded_display}.`;
      announce(`Link emailed to ${updated.email}.`);
      onChange(updated);
    } catch (error) {
      remindNote.textContent = error.message;
    } finally {
      remind.disabled = false;
    }
  });
  box.append(
    element("label", { text: "Link", attrs: { for: urlId } }), url, copyUrl,
    element("label", { text: "Text to send", attrs: { for: textId } }), text, copyText,
    element("div", { className: "pl-share-actions" }),
    qrHolder, remindNote,
  );
  box.querySelector(".pl-share-actions").append(qr, remind);
  return box;
}
