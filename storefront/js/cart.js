// The shopper's cart: a guest cart (POST /guest-cart, then X-Cart-Token) until they sign in,
// their own (/cart) after; signing in merges the guest cart into theirs (POST /cart/merge),
// which the platform does exactly once however often it is asked.
import { api, ApiError, newKey } from "./api.js";
import { session } from "./auth.js";

const GUEST_TOKEN = "shop.guest_cart_token";
const listeners = new Set();

function guestToken() {
  return localStorage.getItem(GUEST_TOKEN);
}

function guestHeaders() {
  return { "X-Cart-Token": guestToken() };
}

function changed(cart) {
  listeners.forEach((listener) => listener(cart));
  return cart;
}

export function onCartChange(listener) {
  listeners.add(listener);
}

const EMPTY = { lines: [], line_count: 0, item_count: 0, totals: [], needs_review: false, degraded: false };

export async function getCart() {
  if (session.signedIn()) return changed(await api("/cart"));
  if (!guestToken()) return changed(EMPTY);
  try {
    return changed(await api("/guest-cart", { headers: guestHeaders() }));
  } catch (error) {
    // Expired (idle guest carts go) or already merged: start afresh.
    if (error instanceof ApiError && (error.status === 404 || error.code === "CART_MERGED")) {
      localStorage.removeItem(GUEST_TOKEN);
      return changed(EMPTY);
    }
    throw error;
  }
}

export async function addToCart(sku, quantity) {
  if (session.signedIn()) {
    await api("/cart/items", { method: "POST", body: { sku, quantity }, key: newKey() });
  } else {
    if (!guestToken()) {
      const created = await api("/guest-cart", { method: "POST" });
      localStorage.setItem(GUEST_TOKEN, created.cart_token);
    }
    await api("/guest-cart/items", {
      method: "POST", body: { sku, quantity }, headers: guestHeaders(), key: newKey(),
    });
  }
  return getCart();
}

export async function setQuantity(sku, quantity) {
  const path = session.signedIn() ? "/cart/items/" : "/guest-cart/items/";
  const headers = session.signedIn() ? {} : guestHeaders();
  if (quantity <= 0) {
    await api(path + encodeURIComponent(sku), { method: "DELETE", headers });
  } else {
    await api(path + encodeURIComponent(sku), { method: "PUT", body: { quantity }, headers });
  }
  return getCart();
}

/** After signing in: the guest cart's lines join the shopper's own. */
export async function mergeGuestCart() {
  const token = guestToken();
  if (!token || !session.signedIn()) return getCart();
  try {
    await api("/cart/merge", { method: "POST", body: { cart_token: token } });
  } catch (error) {
    if (!(error instanceof ApiError && (error.status === 404 || error.status === 409))) throw error;
  }
  localStorage.removeItem(GUEST_TOKEN);
  return getCart();
}
