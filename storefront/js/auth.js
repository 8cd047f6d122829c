// Who the shopper is. Locally: the platform's sign-in route issues a shopper's ID token. On
// AWS: Cognito's Hosted UI, authorization code + PKCE (no client secret in a browser), the ID
// token exchanged at the user pool domain's /oauth2/token. The token is kept in this tab's
// localStorage, sent as a bearer header (never a cookie), and dropped when it expires.

const TOKEN = "shop.id_token";
const VERIFIER = "shop.pkce_verifier";
const STATE = "shop.pkce_state";
const RETURN_TO = "shop.return_to";
const listeners = new Set();
let config = { mode: "local", sign_in_path: "/_local/sign-in" };

function claims(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload));
  } catch {
    return null;
  }
}

export const session = {
  token() {
    const token = localStorage.getItem(TOKEN);
    const found = token && claims(token);
    if (!found || found.exp * 1000 < Date.now() + 30_000) {
      if (token) this.signOut();
      return null;
    }
    return token;
  },
  username() {
    const token = this.token();
    const found = token && claims(token);
    return found ? found["cognito:username"] || found.email || found.sub : null;
  },
  signedIn() {
    return this.token() !== null;
  },
  keep(token) {
    localStorage.setItem(TOKEN, token);
    listeners.forEach((listener) => listener());
  },
  signOut() {
    localStorage.removeItem(TOKEN);
    listeners.forEach((listener) => listener());
  },
  expired() {
    this.signOut();
  },
  onChange(listener) {
    listeners.add(listener);
  },
};

export function configureAuth(settings) {
  config = settings || config;
}

export function authMode() {
  return config.mode;
}

/** Local sign-in: POST the username, keep the token. */
export async function signInLocally(username) {
  const response = await fetch(config.sign_in_path || "/_local/sign-in", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username }),
  });
  const data = await response.json();
  if (!response.ok) throw new Error((data.error && data.error.message) || "Sign-in failed");
  session.keep(data.id_token);
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function redirectUri() {
  return config.redirect_uri || `${window.location.origin}/`;
}

/** AWS: off to the Hosted UI, with a PKCE challenge; back at `/?code=...&state=...`. */
export async function signInWithHostedUi(returnTo) {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(VERIFIER, verifier);
  sessionStorage.setItem(STATE, state);
  sessionStorage.setItem(RETURN_TO, returnTo || "#/");
  const url = new URL("/oauth2/authorize", config.domain);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: redirectUri(),
    scope: "openid email",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  window.location.assign(url.toString());
}

/** On load after the Hosted UI: exchange the code for tokens. Returns where to go next. */
export async function finishHostedUiSignIn() {
  const params = new URLSearchParams(window.location.search);
  const code = params.get("code");
  if (config.mode !== "cognito" || !code) return null;
  const verifier = sessionStorage.getItem(VERIFIER);
  const expected = sessionStorage.getItem(STATE);
  const returnTo = sessionStorage.getItem(RETURN_TO) || "#/";
  sessionStorage.removeItem(VERIFIER);
  sessionStorage.removeItem(STATE);
  window.history.replaceState(null, "", window.location.pathname + window.location.hash);
  if (!verifier || params.get("state") !== expected) throw new Error("The sign-in could not be checked; please sign in again.");
  const response = await fetch(new URL("/oauth2/token", config.domain), {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.client_id,
      code,
      redirect_uri: redirectUri(),
      code_verifier: verifier,
    }),
  });
  const tokens = await response.json();
  if (!response.ok || !tokens.id_token) throw new Error("The sign-in did not complete; please try again.");
  session.keep(tokens.id_token);
  return returnTo;
}

export function signOutEverywhere() {
  session.signOut();
  if (config.mode === "cognito") {
    const url = new URL("/logout", config.domain);
    url.search = new URLSearchParams({ client_id: config.client_id, logout_uri: redirectUri() }).toString();
    window.location.assign(url.toString());
  }
}
