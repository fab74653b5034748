// Who pays, on the clinician's panel: a live picker of who is in the call ("Anyone in the call", then each person
// by name), the name a request is addressed to, and "Sam Lee is paying now" while someone is paying it.

import { $, element } from "/widget/static/view.js";
import { payingNow } from "/widget/static/requests.js";

const ANYONE = "";
let people = []; // [{id, name}] in the order they joined, as the server last said
let heard = false; // the first list has arrived (joins and leaves are said only after it)
let lapseTimer = null;

// The server's `participants`: who is in the call now. The choice made stays while that person is there.
export function showPeople(list, { announce }) {
  const select = $("payer");
  if (!select) return;
  const before = new Map(people.map((p) => [p.id, p]));
  const now = new Map((Array.isArray(list) ? list : []).map((p) => [p.id, p]));
  const chosen = select.value;
  people = [...now.values()];
  const anyone = element("option", { text: "Anyone in the call" });
  anyone.value = ANYONE;
  const options = people.map((person) => {
    const option = element("option", { text: person.name });
    option.value = person.id;
    return option;
  });
  select.replaceChildren(anyone, ...options);
  select.value = now.has(chosen) ? chosen : ANYONE;
  if (!heard) {
    heard = true;
    return;
  }
  const joined = people.filter((p) => !before.has(p.id)).map((p) => `${p.name} joined the call.`);
  const left = [...before.values()].filter((p) => !now.has(p.id)).map((p) => `${p.name} left the call.`);
  if (chosen && !now.has(chosen)) left.push("The next request goes to anyone in the call.");
  if (joined.length || left.length) announce([...joined, ...left].join(" "));
}

// What request_payment sends: `payer` when one person was chosen, nothing for anyone in the call.
export function withPayer(body) {
  const chosen = $("payer")?.value;
  return chosen ? { ...body, payer: { id: chosen } } : body;
}

// The request list's words about who pays.
export function payerMeta(pr) {
  return pr.payer ? `For ${pr.payer.name} to pay` : null;
}

// "Sam Lee is paying now: checkout is open." while it lasts; `render` runs again when the soonest one lapses, so a
// patient who walked away stops showing as paying without any news from the server.
export function payingWords(pr) {
  return payingNow(pr) ? pr.paying.words : null;
}

export function watchLapses(requests, render) {
  window.clearTimeout(lapseTimer);
  const ends = [...requests].filter(payingNow).map((pr) => Date.parse(pr.paying.expires_at));
  if (!ends.length) return;
  lapseTimer = window.setTimeout(render, Math.max(0, Math.min(...ends) - Date.now()) + 250);
}
