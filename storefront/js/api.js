// The public API (openapi.yaml), through fetch. Errors come back in the house shape
// {"error": {"code", "message", "details"}} and are thrown as ApiError.
import { session } from "./auth.js";

let base = "";

export function setApiBase(url) {
  base = (url || "").replace(/\/$/, "");
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export function newKey() {
  return crypto.randomUUID();
}

/**
 * api("/products", {query, method, body, headers, key}): the answer's JSON.
 * `key` is sent as Idempotency-Key (a retry of the same action reuses it). Throttled (429)
 * and not-ready (503 + Retry-After) answers are retried a few times, with the same key.
 */
export async function api(path, { method = "GET", query, body, headers = {}, key } = {}) {
  const url = new URL(base + path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const sent = { Accept: "application/json", ...headers };
  const token = session.token();
  if (token) sent.Authorization = `Bearer ${token}`;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  if (key) sent["Idempotency-Key"] = key;
  for (let attempt = 0; ; attempt += 1) {
    let response;
    try {
      response = await fetch(url, {
        method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      if (attempt < 2) { await wait(500 * (attempt + 1)); continue; }
      throw new ApiError(0, "NETWORK", "The shop cannot be reached; check your connection.");
    }
    if ((response.status === 429 || response.status === 503) && attempt < 3
        && response.headers.has("Retry-After")) {
      await wait(Math.min(5, Number(response.headers.get("Retry-After")) || 1) * 1000);
      continue;
    }
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = (data && data.error) || {};
      if (response.status === 401 && token) session.expired();
      throw new ApiError(response.status, error.code, error.message, error.details);
    }
    return data;
  }
}

function wait(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
