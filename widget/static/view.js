// View helpers shared by the clinician panel and the patient widget. Everything shown is built with textContent:
// descriptions and names come from people and are never HTML.

export const $ = (id) => document.getElementById(id);

export const LANG = document.documentElement.lang || "en-AU";

export function element(tag, { className, text, attrs } = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  return node;
}

export function show(id, visible) {
  $(id).hidden = !visible;
}

// Say `text` through the live region `id`. Emptying it first and filling it a moment later makes screen readers
// read a repeated message too.
export function announcer(id) {
  return (text) => {
    const region = $(id);
    region.textContent = "";
    window.setTimeout(() => { region.textContent = text; }, 50);
  };
}

// Times in the clinic's time zone when the page names one (the clinic setting), as receipts and the payment
// centre show them; otherwise the device's.
const ZONE = document.documentElement.dataset.timezone || undefined;
const TIME_FORMAT = new Intl.DateTimeFormat(LANG, { hour: "numeric", minute: "2-digit", timeZone: ZONE });
// Day, month, year, as the receipt writes it ("22 November 2026, 2:58 pm").
const DATE_TIME_FORMAT = new Intl.DateTimeFormat(LANG, {
  day: "numeric", month: "long", year: "numeric", hour: "numeric", minute: "2-digit", timeZone: ZONE,
});

export function timeOf(iso) {
  return iso ? TIME_FORMAT.format(new Date(iso)) : "";
}

export function dateTimeOf(iso) {
  return iso ? DATE_TIME_FORMAT.format(new Date(iso)) : "";
}
