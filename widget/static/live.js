// The live connection both in-call pages keep to Callpay: one Socket.IO client, authenticated with the page's
// session token, that reports its state in a few words a page can show, and answers emits as promises.

import { io } from "/widget/static/vendor/socket.io-client/socket.io.esm.min.js";

const SESSION_REFUSED = new Set(["session_invalid", "session_missing"]);

// What the connection is doing now: "connecting" (never connected yet), "connected", "lost" (dropped; the client
// is retrying by itself), "back" (connected again after a drop) or "ended" (the server refused this session for
// good: retrying won't help; `message` is the server's words, when it gave any).
export function connectLive(token, { onState = () => {}, on = {} } = {}) {
  const socket = io({ path: "/socket.io", auth: { token: token ?? "" }, transports: ["websocket", "polling"] });
  let connectedBefore = false;
  let ended = false;
  const report = (state, message) => {
    if (!ended) onState(state, message);
    if (state === "ended") ended = true;
  };
  socket.on("connect", () => {
    report(connectedBefore ? "back" : "connected");
    connectedBefore = true;
  });
  socket.on("disconnect", (reason) => {
    report(reason === "io server disconnect" ? "ended" : "lost");
  });
  socket.on("connect_error", (error) => {
    // A refusal by the server's connect check turns the client's retrying off (socket.active is then false).
    if (SESSION_REFUSED.has(error?.data?.code) || !socket.active) report("ended", error?.data ? error.message : "");
    else report(connectedBefore ? "lost" : "connecting");
  });
  for (const [event, handler] of Object.entries(on)) socket.on(event, handler);

  // Emit and wait for the server's ack; rejects with NoAnswer when none comes in time.
  const call = (event, body, timeoutMs) =>
    new Promise((resolve, reject) => {
      socket.timeout(timeoutMs).emit(event, body, (error, ack) => (error ? reject(new NoAnswer(event)) : resolve(ack)));
    });
  return { socket, call };
}

export class NoAnswer extends Error {
  constructor(event) {
    super(`No answer to ${event} in time`);
    this.name = "NoAnswer";
  }
}
