// How the server reads an amount someone typed ("80", "80.00", "A$80", "aud 1,200"), so a form can show every problem
// at once. The server checks again, and alone knows each currency's decimals and limits.

// The number part of `typed`: thousands commas, a leading currency code or symbol and spaces taken off.
export function amountText(typed, currency) {
  let text = typed.trim().replace(/,/g, "");
  if (text.slice(0, 3).toLowerCase() === currency) text = text.slice(3);
  return text.replace(/^(?:[A-Za-z]{1,3})?[$€£¥₩₹]/, "").trim();
}

// What amountText must look like to be a number at all.
export const AMOUNT_NUMBER = /^(\d+\.?\d*|\.\d+)$/;
