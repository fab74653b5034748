// What this tab remembers across a reload of the patient's frame: the session, and where the patient was (the step,
// the request, the email they typed). Kept in the frame's sessionStorage, which lives as long as the tab and is
// never sent to a server: not in a cookie, not in the address. The launch that opened the page stays single use;
// a reload resumes the session it opened, and ends with it.

const KEY = "callpay.patient";

function storage() {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage refused (a locked-down browser): the page still works, a reload just can't resume
  }
}

export function loadTab() {
  try {
    const kept = JSON.parse(storage()?.getItem(KEY) ?? "null");
    if (!kept || !kept.session || Date.parse(kept.session.expires_at) <= Date.now()) return null;
    return kept;
  } catch {
    return null;
  }
}

export function saveTab(values) {
  const store = storage();
  if (!store) return;
  try {
    const kept = JSON.parse(store.getItem(KEY) ?? "null") || {};
    store.setItem(KEY, JSON.stringify({ ...kept, ...values }));
  } catch {
    // full or refused: nothing to resume from, which is how the page was before
  }
}

export function forgetTab() {
  storage()?.removeItem(KEY);
}
