// The page's session: read once from the inert JSON block the server rendered, kept in memory (a page that resumes
// after a reload hands back the one it kept with useSession). The launch token is removed from the address bar so
// it is not bookmarked, shared or sent as a Referer.

const block = document.getElementById("callpay-session");
export let session = block ? JSON.parse(block.textContent) : null;
if (block) block.remove();

// Use a session the page kept for itself (the patient widget keeps its own for the life of the tab).
export function useSession(kept) {
  session = kept;
}
if (new URL(window.location.href).searchParams.has("launch")) {
  const url = new URL(window.location.href);
  url.searchParams.delete("launch");
  window.history.replaceState(null, "", url.pathname + url.search + url.hash);
}

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message);
    this.status = status;
    this.code = error.code;
    this.field = error.field;
    this.errors = error.errors; // every problem, when the server found several (settings)
    this.details = error; // the whole error, for answers that say more (Pay all's set_changed: what is left)
  }
}

// Calls the API with the session token and answers the Response. A failure arrives in the contract's shape and
// becomes ApiError, whose message is written for people and safe to show as is; `fallback` is said instead when the
// answer carries no message.
export async function request(
  path,
  { method = "GET", body, accept = "application/json", fallback = "Something went wrong. Please try again." } = {},
) {
  const headers = { Accept: accept, Authorization: `Bearer ${session?.token ?? ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { code: "network", message: "We couldn't reach Callpay. Check your connection and try again." });
  }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new ApiError(response.status, data?.error ?? { code: "error", message: fallback });
  }
  return response;
}

// Calls the JSON API and answers the parsed body.
export async function api(path, options) {
  const text = await (await request(path, options)).text();
  return text ? JSON.parse(text) : {};
}

// Fetches a file the API makes (a CSV export, a receipt PDF) with the session token and saves it under the name
// the server gives (Content-Disposition), or `fallbackName`.
export async function download(path, fallbackName, accept = "application/pdf") {
  const response = await request(path, { accept });
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10000);
}
