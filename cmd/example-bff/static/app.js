// The BFF demo page. Every call carries the X-Gaia-BFF header the BFF
// requires (a cross-origin page cannot send it without a CORS preflight,
// which the BFF never approves) and the session cookie, sent by the
// browser; no token ever reaches this script.
"use strict";

const $ = (id) => document.getElementById(id);
const call = (path, init = {}) =>
  fetch(path, { ...init, headers: { ...(init.headers || {}), "X-Gaia-BFF": "1" } });

async function render() {
  $("cookies").textContent = "document.cookie = " + JSON.stringify(document.cookie);
  const s = await (await call("/bff/session")).json();
  $("status").textContent = s.authenticated
    ? "Logged in as " + s.username + " (" + s.permissions.join(", ") + ")"
    : "Logged out";
}

$("items").onclick = async () => {
  const resp = await call("/api/items");
  $("output").textContent = "HTTP " + resp.status + "\n" + JSON.stringify(await resp.json(), null, 2);
};
$("add").onclick = async () => {
  const resp = await call("/api/items", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: "widget", quantity: 3 }),
  });
  $("output").textContent = "HTTP " + resp.status + "\n" + JSON.stringify(await resp.json(), null, 2);
};
$("logout").onclick = async () => {
  const resp = await call("/bff/logout", { method: "POST" });
  const body = await resp.json();
  window.location.assign(body.logout_url);
};

render().catch((e) => { $("status").textContent = "Error: " + e.message; });
