// The demo SPA: oidc-client-ts drives the authorization-code flow with
// PKCE against Gaia IAM (discovery gives it every endpoint), keeps the
// tokens in sessionStorage, refreshes with the refresh token and logs out
// through the IAM's end_session_endpoint. /config.json, served next to
// this bundle, names the IAM, the client and the inventory service.
import { UserManager, WebStorageStateStore } from "oidc-client-ts";

const $ = (id) => document.getElementById(id);

function show(status, output) {
  $("status").textContent = status;
  if (output !== undefined) $("output").textContent = output;
}

async function main() {
  const config = await (await fetch("/config.json")).json();
  const here = window.location.origin + "/";
  const callback = window.location.origin + "/callback";
  const mgr = new UserManager({
    authority: config.authority,
    client_id: config.client_id,
    redirect_uri: callback,
    post_logout_redirect_uri: here,
    response_type: "code",
    scope: "openid offline_access",
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
    automaticSilentRenew: false,
    // Revoke the refresh token at logout (RFC 7009) before ending the login.
    revokeTokenTypes: ["refresh_token", "access_token"],
  });

  if (window.location.pathname === "/callback") {
    try {
      await mgr.signinRedirectCallback();
    } catch (e) {
      show("Login failed: " + e.message);
    }
    // Drop code and state from the address bar and history.
    window.history.replaceState({}, "", "/");
  }

  async function render() {
    const user = await mgr.getUser();
    if (!user || user.expired && !user.refresh_token) {
      show("Logged out");
      return null;
    }
    const claims = JSON.parse(atob(user.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    show("Logged in as " + (claims.username || user.profile.sub) + " (token " + claims.jti.slice(0, 8) + ")");
    return user;
  }

  $("login").onclick = () => mgr.signinRedirect();
  $("items").onclick = async () => {
    const user = await mgr.getUser();
    if (!user) return show("Logged out");
    const resp = await fetch(config.inventory_url + "/items", {
      headers: { Authorization: "Bearer " + user.access_token },
    });
    const body = await resp.json();
    $("output").textContent = "HTTP " + resp.status + "\n" + JSON.stringify(body, null, 2);
  };
  $("refresh").onclick = async () => {
    try {
      // With a refresh token, signinSilent uses the refresh_token grant.
      await mgr.signinSilent();
      await render();
      $("output").textContent = "refreshed";
    } catch (e) {
      show("Refresh failed: " + e.message);
    }
  };
  $("logout").onclick = async () => {
    await mgr.revokeTokens();
    await mgr.signoutRedirect();
  };

  await render();
}

main().catch((e) => show("Error: " + e.message));
