// The storefront: hash routes (#/, #/category/x, #/search?q=, #/product/id, #/cart,
// #/sign-in, #/checkout, #/checkout/id, #/orders, #/orders/id, #/flash/id), each a function
// that fetches from the public API and shows a page. No framework, no build step.
import { api, ApiError, newKey, setApiBase } from "./api.js";
import {
  authMode, configureAuth, finishHostedUiSignIn, session, signInLocally, signInWithHostedUi,
  signOutEverywhere,
} from "./auth.js";
import { addToCart, getCart, mergeGuestCart, onCartChange, setQuantity } from "./cart.js";
import { configurePayments, handleNextAction, TEST_CARDS } from "./payments.js";
import {
  categoryName, clearNotices, errorText, h, money, notify, productCard, quiet, show, sleep, when,
} from "./ui.js";

const POLL_MS = 1000;
let page = 0; // bumped on each navigation: a page's polling loop stops once it is left

// ------------------------------------------------------------------ start
async function start() {
  const config = await fetch("/config.json").then((r) => r.json());
  setApiBase(config.api_base);
  configureAuth(config.auth);
  configurePayments(config.stripe);
  session.onChange(renderAccount);
  onCartChange((cart) => {
    document.getElementById("cart-count").textContent = String(cart.item_count || 0);
  });
  setUpSearchBox();
  renderAccount();
  try {
    const back = await finishHostedUiSignIn();
    if (back) { await mergeGuestCart(); window.location.hash = back; }
  } catch (error) {
    notify(errorText(error));
  }
  window.addEventListener("hashchange", route);
  await route();
  getCart().catch(() => {});
}

function renderAccount() {
  const slot = document.getElementById("account");
  if (session.signedIn()) {
    slot.replaceChildren(
      h("span", { class: "visually-hidden" }, "Signed in as "),
      h("span", { id: "who" }, session.username()), " ",
      h("button", { type: "button", onclick: () => { signOutEverywhere(); getCart(); go("#/"); } }, "Sign out"),
    );
  } else {
    // Back to the page they were on, once signed in.
    const back = () => (window.location.hash.startsWith("#/sign-in") ? "#/" : window.location.hash || "#/");
    slot.replaceChildren(h("a", {
      href: "#/sign-in",
      onclick: (event) => { event.preventDefault(); go(`#/sign-in?next=${encodeURIComponent(back())}`); },
    }, "Sign in"));
  }
}

function go(hash) {
  if (window.location.hash === hash) route(); else window.location.hash = hash;
}

function parseHash() {
  const raw = window.location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

async function route() {
  page += 1;
  clearNotices();
  const { parts, query } = parseHash();
  const [first, second] = parts;
  const pages = {
    undefined: () => homePage(),
    category: () => categoryPage(second, query),
    search: () => searchPage(query),
    product: () => productPage(second),
    cart: () => cartPage(),
    "sign-in": () => signInPage(query),
    checkout: () => (second ? checkoutResultPage(second) : checkoutPage(query)),
    orders: () => (second ? orderPage(second) : ordersPage()),
    flash: () => flashSalePage(second),
  };
  const render = pages[first] || (() => show("Not found", h("h1", {}, "Page not found"), h("a", { href: "#/" }, "Back to the shop")));
  const main = document.getElementById("main");
  const shown = window.location.hash || "#/";
  delete main.dataset.route;
  try {
    await render();
    // Marks the page done (its data in); a later navigation's render clears it again.
    if (window.location.hash === shown || (!window.location.hash && shown === "#/")) main.dataset.route = shown;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      go(`#/sign-in?next=${encodeURIComponent(window.location.hash)}`);
      return;
    }
    show("Problem", h("h1", {}, "Sorry, something went wrong"), h("p", { class: "error", role: "alert" }, errorText(error)));
  }
}

function needsSignIn() {
  if (session.signedIn()) return false;
  go(`#/sign-in?next=${encodeURIComponent(window.location.hash)}`);
  return true;
}

// ------------------------------------------------------------------ search box + suggestions
function setUpSearchBox() {
  const form = document.getElementById("search-form");
  const input = document.getElementById("search-input");
  const list = document.getElementById("suggestions");
  let timer = null;
  let active = -1;
  let asked = 0;
  const close = () => {
    list.hidden = true; list.replaceChildren(); active = -1;
    input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant");
  };
  const mark = (index) => {
    const options = [...list.children];
    active = Math.max(-1, Math.min(index, options.length - 1));
    options.forEach((option, i) => option.setAttribute("aria-selected", String(i === active)));
    if (active >= 0) input.setAttribute("aria-activedescendant", options[active].id);
    else input.removeAttribute("aria-activedescendant");
  };
  const choose = (suggestion) => { close(); input.value = suggestion.text; go(`#/product/${encodeURIComponent(suggestion.product_id)}`); };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (q.length < 2) { close(); return; }
    timer = setTimeout(async () => {
      const mine = ++asked;
      let answer;
      try {
        answer = await api("/search/suggest", { query: { q, limit: 6 } });
      } catch {
        answer = { suggestions: [], degraded: true };
      }
      if (mine !== asked) return; // a later keystroke's answer wins
      list.replaceChildren(...answer.suggestions.map((s, i) =>
        h("li", { role: "option", id: `suggestion-${i}`, "aria-selected": "false", onmousedown: (e) => { e.preventDefault(); choose(s); } }, s.text)));
      const open = answer.suggestions.length > 0;
      list.hidden = !open;
      input.setAttribute("aria-expanded", String(open));
      active = -1;
      list._suggestions = answer.suggestions;
    }, 150);
  });
  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown") { event.preventDefault(); mark(active + 1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); mark(active - 1); }
    else if (event.key === "Escape") { close(); }
    else if (event.key === "Enter" && active >= 0) { event.preventDefault(); choose(list._suggestions[active]); }
  });
  input.addEventListener("blur", () => setTimeout(close, 100));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    close();
    go(`#/search?q=${encodeURIComponent(input.value.trim())}`);
  });
}

// ------------------------------------------------------------------ home and browsing
async function homePage() {
  const mine = page;
  const [facets, featured, sales] = await Promise.all([
    api("/search", { query: { limit: 1 } }).catch(() => null),
    api("/products", { query: { limit: 12 } }),
    api("/flash-sales").catch(() => ({ items: [] })),
  ]);
  const categories = facets && !facets.degraded ? facets.facets.category : [];
  const forYou = h("section", { "aria-labelledby": "for-you" }, h("h2", { id: "for-you" }, "For you"));
  show("Home",
    h("h1", {}, "Welcome to the shop"),
    sales.items.length
      ? h("section", { "aria-labelledby": "flash-sales" },
        h("h2", { id: "flash-sales" }, "Flash sales"),
        h("ul", { class: "chips", id: "flash-sale-list" }, sales.items.map((sale) => h("li", {},
          h("a", { href: `#/flash/${encodeURIComponent(sale.sale_id)}` },
            `${sale.name || `SKU ${sale.sku}`} at ${money(sale.price)}: ${saleWhen(sale)}`)))))
      : null,
    h("section", { "aria-labelledby": "categories" },
      h("h2", { id: "categories" }, "Browse by category"),
      categories.length
        ? h("ul", { class: "chips" }, categories.map((c) => h("li", {}, h("a", { href: `#/category/${c.value}` }, `${categoryName(c.value)} (${c.count})`))))
        : quiet("Categories are unavailable just now; the products below can still be browsed."),
    ),
    session.signedIn() ? forYou : null,
    h("section", { "aria-labelledby": "featured" },
      h("h2", { id: "featured" }, "New in"),
      h("ul", { class: "grid" }, featured.items.map(productCard)),
    ),
  );
  if (session.signedIn()) fillForYou(forYou, mine);
}

async function fillForYou(section, mine) {
  let answer;
  try {
    answer = await api("/recommendations", { query: { limit: 8 } });
  } catch {
    answer = { items: [], degraded: true };
  }
  if (mine !== page) return;
  if (answer.degraded) section.append(quiet("Personal picks are taking a break; everything else works as usual."));
  if (answer.items.length) section.append(h("ul", { class: "grid", id: "for-you-list" }, answer.items.map(productCard)));
  else if (!answer.degraded) section.append(h("p", { class: "muted" }, "Look around: picks for you appear here."));
}

async function categoryPage(category, query) {
  const answer = await api("/products", { query: { category, limit: 24, cursor: query.get("cursor") } });
  const more = answer.cursor
    ? h("a", { class: "button", href: `#/category/${encodeURIComponent(category)}?cursor=${encodeURIComponent(answer.cursor)}` }, "More products")
    : null;
  show(categoryName(category),
    h("nav", { "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Home"), " › ", categoryName(category)),
    h("h1", {}, categoryName(category)),
    answer.items.length ? h("ul", { class: "grid" }, answer.items.map(productCard)) : h("p", {}, "Nothing here yet."),
    more,
  );
}

// ------------------------------------------------------------------ search with facets
async function searchPage(query) {
  const q = query.get("q") || "";
  document.getElementById("search-input").value = q;
  const filters = {
    q, category: query.get("category"), min_price: query.get("min_price"),
    max_price: query.get("max_price"), in_stock: query.get("in_stock"), sort: query.get("sort"),
  };
  let answer;
  try {
    answer = await api("/search", { query: { ...filters, limit: 24 } });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status < 500) throw error;
    // Not even the simpler mode answered: say so quietly, and offer the catalogue instead.
    show("Search", h("h1", {}, "Search"),
      quiet("Search is unavailable just now. You can still browse the shop by category."),
      h("a", { class: "button", href: "#/" }, "Browse categories"));
    return;
  }
  const link = (changes) => {
    const next = new URLSearchParams();
    for (const [name, value] of Object.entries({ ...filters, ...changes })) if (value) next.set(name, value);
    return `#/search?${next.toString()}`;
  };
  const categories = h("fieldset", {}, h("legend", {}, "Category"),
    h("ul", {}, filters.category ? h("li", {}, h("a", { href: link({ category: null }) }, "All categories")) : null,
      answer.facets.category.map((c) => h("li", {}, h("a", {
        href: link({ category: c.value }), "aria-current": String(c.value === filters.category),
      }, `${categoryName(c.value)} (${c.count})`)))));
  const prices = h("fieldset", {}, h("legend", {}, "Price"),
    h("ul", {}, answer.facets.price.filter((b) => b.count > 0).map((b) => h("li", {}, h("a", {
      href: link({ min_price: String(b.min), max_price: b.max === null ? null : String(b.max) }),
    }, `${money({ amount: b.min, currency: "GBP" })}${b.max === null ? "+" : ` – ${money({ amount: b.max, currency: "GBP" })}`} (${b.count})`)))));
  const stock = h("label", {}, h("input", {
    type: "checkbox", id: "in-stock", checked: filters.in_stock === "true",
    onchange: (e) => go(link({ in_stock: e.target.checked ? "true" : null })),
  }), " In stock only");
  const heading = q ? `Results for “${q}”` : filters.category ? categoryName(filters.category) : "All products";
  show(heading,
    h("h1", {}, heading),
    answer.degraded ? quiet("Search is running in a simpler mode just now: results may be less precise.") : null,
    h("div", { class: "layout with-filters" },
      h("aside", { class: "filters", "aria-label": "Filters" }, categories, prices, stock),
      h("section", { "aria-label": "Results" },
        h("p", { id: "result-count" }, `${answer.total} product${answer.total === 1 ? "" : "s"}`),
        answer.items.length
          ? h("ul", { class: "grid", id: "results" }, answer.items.map(productCard))
          : h("p", {}, "No products match; try fewer filters or another word."))),
  );
}

// ------------------------------------------------------------------ product
async function productPage(productId) {
  const mine = page;
  const product = await api(`/products/${encodeURIComponent(productId)}`);
  if (session.signedIn()) {
    // What they view feeds "for you"; a failure here must not spoil the page.
    api("/recommendations/views", { method: "POST", body: { product_id: productId } }).catch(() => {});
  }
  const variants = product.variants;
  let chosen = variants[0];
  const price = h("p", { class: "price big", id: "price" }, money(chosen.price));
  const availability = h("p", { id: "availability", "aria-live": "polite" }, "Checking stock…");
  const message = h("p", { id: "added", role: "status" });
  const quantity = h("input", { id: "quantity", type: "number", min: "1", max: "99", value: "1", inputmode: "numeric" });
  const label = (v) => Object.entries(v.attributes || {}).map(([k, val]) => `${k}: ${val}`).join(", ") || v.sku;
  const showStock = async () => {
    availability.textContent = "Checking stock…";
    try {
      const stock = await api(`/inventory/${encodeURIComponent(chosen.sku)}`);
      availability.textContent = stock.in_stock ? `In stock (${stock.available} available)` : "Out of stock";
      availability.className = stock.in_stock ? "ok" : "error";
    } catch {
      availability.textContent = "Stock unknown just now";
    }
  };
  const options = variants.length > 1
    ? h("fieldset", { class: "options" }, h("legend", {}, "Option"),
      variants.map((v, i) => h("label", {}, h("input", {
        type: "radio", name: "variant", value: v.sku, checked: i === 0,
        onchange: () => { chosen = v; price.textContent = money(v.price); showStock(); },
      }), ` ${label(v)}`)))
    : h("p", { class: "muted" }, `SKU ${chosen.sku}`);
  const add = h("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      const button = event.target.querySelector("button");
      button.disabled = true;
      try {
        await addToCart(chosen.sku, Number(quantity.value) || 1);
        message.replaceChildren("Added to your cart. ", h("a", { href: "#/cart" }, "View cart"));
        message.className = "ok";
      } catch (error) {
        message.textContent = errorText(error);
        message.className = "error";
      } finally {
        button.disabled = false;
      }
    },
  }, options, h("div", { class: "row" },
    h("div", { class: "field" }, h("label", { for: "quantity" }, "Quantity"), quantity),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Add to cart"))), message);
  const together = h("section", { "aria-labelledby": "together" }, h("h2", { id: "together" }, "Bought together"));
  show(product.name,
    h("nav", { "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Home"), " › ",
      h("a", { href: `#/category/${product.category}` }, categoryName(product.category))),
    h("article", { class: "product" },
      product.images && product.images.length
        ? h("img", { class: "picture", src: product.images[0], alt: product.name })
        : h("div", { class: "picture", "aria-hidden": "true" }, initials(product.name)),
      h("div", {},
        h("h1", {}, product.name),
        product.description ? h("p", {}, product.description) : null,
        price, availability, add)),
    together,
  );
  showStock();
  let recs;
  try {
    recs = await api(`/products/${encodeURIComponent(productId)}/recommendations`, { query: { limit: 4 } });
  } catch {
    recs = { items: [], degraded: true };
  }
  if (mine !== page) return;
  if (recs.degraded) together.append(quiet("Suggestions are unavailable just now."));
  together.append(recs.items.length
    ? h("ul", { class: "grid", id: "together-list" }, recs.items.map(productCard))
    : recs.degraded ? "" : h("p", { class: "muted" }, "Nothing yet."));
}

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((word) => word[0].toUpperCase()).join("");
}

// ------------------------------------------------------------------ cart and sign-in
async function cartPage() {
  const cart = await getCart();
  const rows = cart.lines.map((line) => {
    const qty = h("input", { type: "number", min: "0", max: "99", value: String(line.quantity), id: `qty-${line.sku}`, inputmode: "numeric" });
    return h("tr", {},
      h("td", {}, line.name, line.available ? null : h("span", { class: "error" }, " (unavailable)")),
      h("td", {}, money(line.current_price || line.unit_price), line.price_changed ? h("span", { class: "muted" }, " (price changed)") : null),
      h("td", {}, h("label", { for: `qty-${line.sku}`, class: "visually-hidden" }, `Quantity of ${line.name}`), qty, " ",
        h("button", { type: "button", class: "secondary", onclick: async () => { await setQuantity(line.sku, Number(qty.value)); route(); } }, "Update"), " ",
        h("button", { type: "button", class: "secondary", onclick: async () => { await setQuantity(line.sku, 0); route(); } }, `Remove`)),
    );
  });
  show("Cart",
    h("h1", {}, "Your cart"),
    cart.degraded ? quiet("Prices are being confirmed; they are checked again at checkout.") : null,
    cart.lines.length
      ? [h("table", { class: "stack", id: "cart-lines" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Item"), h("th", { scope: "col" }, "Price"), h("th", { scope: "col" }, "Quantity"))),
        h("tbody", {}, rows)),
      h("p", { class: "price", id: "cart-total" }, "Total: ", cart.totals.map(money).join(" + ")),
      session.signedIn()
        ? h("a", { class: "button", href: "#/checkout", id: "to-checkout" }, "Check out")
        : h("p", {}, h("a", { class: "button", href: "#/sign-in?next=%23%2Fcheckout" }, "Sign in to check out"), " Your cart is kept.")]
      : h("p", {}, "Your cart is empty. ", h("a", { href: "#/" }, "Start shopping")),
  );
}

function signInPage(query) {
  const next = query.get("next") || "#/";
  if (authMode() === "cognito") {
    show("Sign in", h("h1", {}, "Sign in"),
      h("p", {}, "You will sign in on the shop's account page and come back here."),
      h("button", { type: "button", onclick: () => signInWithHostedUi(next) }, "Continue to sign in"));
    return;
  }
  const problem = h("p", { role: "alert", class: "error", id: "sign-in-problem" });
  show("Sign in",
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "On this local shop, any username signs you in as a shopper."),
    h("form", {
      onsubmit: async (event) => {
        event.preventDefault();
        const username = event.target.elements.username.value.trim();
        try {
          await signInLocally(username);
          await mergeGuestCart();
          go(next);
        } catch (error) {
          problem.textContent = errorText(error);
        }
      },
    },
    h("div", { class: "field" }, h("label", { for: "username" }, "Username"),
      h("input", { id: "username", name: "username", autocomplete: "username", required: true, maxlength: "64", pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]*" })),
    h("button", { type: "submit" }, "Sign in"), problem),
  );
}

// ------------------------------------------------------------------ checkout
async function checkoutPage(query) {
  if (needsSignIn()) return;
  const ticket = query.get("ticket");
  const cart = ticket ? null : await getCart();
  if (cart && !cart.lines.length) {
    show("Checkout", h("h1", {}, "Checkout"), h("p", {}, "Your cart is empty. ", h("a", { href: "#/" }, "Start shopping")));
    return;
  }
  const key = newKey(); // one per visit of this page: a double click places one order
  const problem = h("p", { role: "alert", class: "error", id: "checkout-problem" });
  const field = (name, label, attrs = {}) => h("div", { class: "field" },
    h("label", { for: name }, label), h("input", { id: name, name, required: true, ...attrs }));
  show("Checkout",
    h("h1", {}, "Checkout"),
    cart ? h("p", { class: "price" }, `${cart.item_count} item${cart.item_count === 1 ? "" : "s"}: ${cart.totals.map(money).join(" + ")}`)
      : h("p", {}, "You are buying your flash sale win."),
    h("form", {
      id: "checkout-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const form = event.target.elements;
        const button = event.target.querySelector("button[type=submit]");
        button.disabled = true;
        problem.textContent = "";
        try {
          const body = {
            payment_method: form.card.value,
            shipping_address: {
              name: form.name.value, line1: form.line1.value, city: form.city.value,
              postal_code: form.postal_code.value, country: form.country.value,
            },
          };
          if (ticket) body.flash_sale_ticket_id = ticket;
          const accepted = await api("/checkout", { method: "POST", body, key });
          go(`#/checkout/${encodeURIComponent(accepted.checkout_id)}`);
        } catch (error) {
          problem.textContent = errorText(error);
          button.disabled = false;
        }
      },
    },
    h("fieldset", { class: "panel" }, h("legend", {}, "Delivery address"),
      field("name", "Full name", { autocomplete: "name" }),
      field("line1", "Address", { autocomplete: "address-line1" }),
      field("city", "Town or city", { autocomplete: "address-level2" }),
      field("postal_code", "Postcode", { autocomplete: "postal-code" }),
      h("div", { class: "field" }, h("label", { for: "country" }, "Country"),
        h("select", { id: "country", name: "country", autocomplete: "country" },
          h("option", { value: "GB" }, "United Kingdom"), h("option", { value: "IE" }, "Ireland"), h("option", { value: "FR" }, "France")))),
    h("fieldset", { class: "panel" }, h("legend", {}, "Payment (Stripe test cards)"),
      TEST_CARDS.map((card, i) => h("div", {}, h("label", {},
        h("input", { type: "radio", name: "card", value: card.id, checked: i === 0 }), ` ${card.label}`)))),
    h("button", { type: "submit" }, "Place order"), problem),
  );
}

async function checkoutResultPage(checkoutId) {
  const mine = page;
  const status = h("p", { id: "checkout-status", role: "status" }, "Placing your order…");
  show("Order status", h("h1", {}, "Your order"), status);
  const handled = new Set();
  for (;;) {
    const view = await api(`/checkout/${encodeURIComponent(checkoutId)}`);
    if (mine !== page) return;
    if (view.status === "SUCCEEDED") {
      getCart().catch(() => {});
      show("Order placed",
        h("h1", {}, "Thank you: your order is placed"),
        h("p", { id: "checkout-status", class: "ok", role: "status" }, `Order ${view.order_id}, ${money(view.total)}.`),
        h("a", { class: "button", href: `#/orders/${encodeURIComponent(view.order_id)}` }, "Track your order"));
      return;
    }
    if (view.status === "FAILED") {
      show("Order not placed",
        h("h1", {}, "Your order was not placed"),
        h("p", { id: "checkout-status", class: "error", role: "alert" }, failureText(view.failure)),
        h("p", {}, "Nothing was charged. ", h("a", { href: "#/cart" }, "Back to your cart")));
      return;
    }
    if (view.next_action && !handled.has(view.next_action.payment_intent_id)) {
      handled.add(view.next_action.payment_intent_id);
      status.textContent = "Your bank asks you to confirm the payment…";
      try {
        await handleNextAction(view.next_action);
        status.textContent = "Thanks, finishing your order…";
      } catch (error) {
        status.textContent = errorText(error);
      }
    }
    await sleep(POLL_MS);
  }
}

function failureText(failure) {
  const texts = {
    PAYMENT_DECLINED: "Your card was declined.",
    OUT_OF_STOCK: "Some items sold out before we could reserve them.",
    PRICE_CHANGED: "A price changed; please check your cart.",
    PAYMENT_TIMEOUT: "The payment was not confirmed in time.",
    PAYMENT_PROVIDER_UNAVAILABLE: "Payments are unavailable just now; please try again shortly.",
  };
  return (failure && texts[failure.code]) || "The order could not be completed.";
}

// ------------------------------------------------------------------ orders
async function ordersPage() {
  if (needsSignIn()) return;
  const answer = await api("/orders", { query: { limit: 20 } });
  show("Your orders",
    h("h1", {}, "Your orders"),
    answer.items.length
      ? h("table", { class: "stack", id: "orders" },
        h("thead", {}, h("tr", {}, ["Order", "Placed", "Status", "Total"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, answer.items.map((o) => h("tr", {},
          h("td", {}, h("a", { href: `#/orders/${encodeURIComponent(o.order_id)}` }, o.order_id)),
          h("td", {}, when(o.created_at)), h("td", { class: "status" }, statusText(o.status)), h("td", {}, money(o.total))))))
      : h("p", {}, "No orders yet. ", h("a", { href: "#/" }, "Start shopping")),
  );
}

const STATUS_TEXT = {
  PENDING: "Pending", PLACED: "Placed", PARTIALLY_SHIPPED: "Partly shipped", SHIPPED: "Shipped",
  DELIVERED: "Delivered", CANCELLED: "Cancelled", PARTIALLY_RETURNED: "Partly returned",
  RETURNED: "Returned", PACKED: "Packed", IN_TRANSIT: "In transit",
  OUT_FOR_DELIVERY: "Out for delivery", DELIVERY_FAILED: "Delivery failed",
  REQUESTED: "Requested", RECEIVED: "Received", REFUNDED: "Refunded", ACCEPTED: "Accepted",
};

function statusText(status) {
  return STATUS_TEXT[status] || status;
}

async function orderPage(orderId) {
  if (needsSignIn()) return;
  const order = await api(`/orders/${encodeURIComponent(orderId)}`);
  const problem = h("p", { role: "alert", class: "error", id: "order-problem" });
  const cancellable = ["PLACED", "PARTIALLY_SHIPPED"].includes(order.status)
    && order.shipments.some((s) => ["PENDING", "PACKED"].includes(s.status));
  const delivered = order.shipments.filter((s) => s.status === "DELIVERED").flatMap((s) => s.lines);
  const cancelKey = newKey();
  const cancel = cancellable ? h("button", {
    type: "button", class: "danger", id: "cancel-order",
    onclick: async () => {
      try {
        await api(`/orders/${encodeURIComponent(orderId)}/cancel`, { method: "POST", body: { reason: "changed my mind" }, key: cancelKey });
        route();
      } catch (error) { problem.textContent = errorText(error); }
    },
  }, "Cancel what has not shipped") : null;
  const returnKey = newKey();
  const returnForm = delivered.length ? h("form", {
    class: "panel", id: "return-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const form = event.target.elements;
      const [sku, max] = form.line.value.split("|");
      try {
        await api(`/orders/${encodeURIComponent(orderId)}/returns`, {
          method: "POST", key: returnKey,
          body: { lines: [{ sku, quantity: Math.min(Number(max), Number(form.return_quantity.value) || 1) }], reason: form.reason.value },
        });
        route();
      } catch (error) { problem.textContent = errorText(error); }
    },
  }, h("h2", {}, "Return something"),
  h("div", { class: "field" }, h("label", { for: "line" }, "Item"),
    h("select", { id: "line", name: "line" }, delivered.map((l) => h("option", { value: `${l.sku}|${l.quantity}` }, `${l.name || l.sku} (×${l.quantity})`)))),
  h("div", { class: "field" }, h("label", { for: "return_quantity" }, "Quantity"), h("input", { id: "return_quantity", name: "return_quantity", type: "number", min: "1", value: "1" })),
  h("div", { class: "field" }, h("label", { for: "reason" }, "Reason"), h("input", { id: "reason", name: "reason", required: true, maxlength: "200" })),
  h("button", { type: "submit" }, "Request a return")) : null;
  const timeline = (history) => h("ol", { class: "timeline" }, history.map((e) => h("li", {}, h("span", { class: "status" }, statusText(e.status)), ` · ${when(e.at)}`, e.note ? ` · ${e.note}` : "")));
  show(`Order ${orderId}`,
    h("nav", { "aria-label": "Breadcrumb" }, h("a", { href: "#/orders" }, "Your orders"), " › ", orderId),
    h("h1", {}, "Order ", h("span", { class: "muted" }, orderId)),
    h("p", {}, "Status: ", h("span", { class: "status", id: "order-status" }, statusText(order.status)), ` · ${money(order.total)} · ${when(order.created_at)}`),
    h("h2", {}, "Items"),
    h("ul", { id: "order-lines" }, order.lines.map((l) => h("li", {}, `${l.name || l.sku} × ${l.quantity} at ${money(l.unit_price)}`))),
    h("h2", {}, "Shipments"),
    order.shipments.length ? h("div", { id: "shipments" }, order.shipments.map((s) => h("section", { class: "panel shipment", "aria-label": `Shipment ${s.shipment_id}` },
      h("p", {}, h("span", { class: "status" }, statusText(s.status)), ` from ${s.warehouse_id}`,
        s.tracking_number ? [" · ", s.carrier, " tracking ", h("span", { class: "tracking" }, s.tracking_number)] : ""),
      h("p", { class: "muted" }, s.lines.map((l) => `${l.sku} × ${l.quantity}`).join(", ")),
      timeline(s.history))))
      : h("p", { class: "muted" }, "Your order is being prepared."),
    order.cancellations.length ? [h("h2", {}, "Cancellations"), h("ul", { id: "cancellations" }, order.cancellations.map((c) => h("li", {}, `${statusText(c.status)}: refund ${money(c.refund)}`)))] : null,
    order.returns.length ? [h("h2", {}, "Returns"), h("ul", { id: "returns" }, order.returns.map((r) => h("li", {}, `${statusText(r.status)}: ${r.lines.map((l) => `${l.sku} × ${l.quantity}`).join(", ")} (${r.reason})`)))] : null,
    cancel, returnForm, problem,
    h("h2", {}, "History"), timeline(order.history),
  );
}

// ------------------------------------------------------------------ flash sale
function saleWhen(sale) {
  if (sale.status === "OPEN") return `on now, ${sale.remaining} left`;
  if (sale.status === "SOLD_OUT") return "sold out";
  return `from ${when(sale.starts_at)}`;
}

async function flashSalePage(saleId) {
  const mine = page;
  const sale = await api(`/flash-sales/${encodeURIComponent(saleId)}`);
  const state = h("div", { id: "flash-state", role: "status", "aria-live": "polite" });
  const ticketKey = `shop.flash.${saleId}`;
  const render = (ticket) => {
    if (!ticket) { state.replaceChildren(); return; }
    if (ticket.status === "QUEUED") {
      state.replaceChildren(h("p", {}, "You are in the queue. Position: ", h("span", { class: "big", id: "position" }, ticket.position ?? "…")));
    } else if (ticket.status === "WON") {
      state.replaceChildren(h("p", { class: "ok big" }, "You won!"),
        ticket.order_id ? h("p", {}, h("a", { href: `#/orders/${ticket.order_id}` }, "See your order"))
          : h("p", {}, `Held for you until ${when(ticket.hold_expires_at)}. `,
            h("a", { class: "button", id: "checkout-win", href: `#/checkout?ticket=${encodeURIComponent(ticket.ticket_id)}` }, "Check out your win")));
    } else {
      state.replaceChildren(h("p", { class: "error big" }, ticket.status === "EXPIRED" ? "Your hold expired" : "Sold out: not this time"),
        h("p", {}, h("a", { href: "#/" }, "Keep shopping")));
    }
  };
  const enter = h("button", {
    type: "button", id: "enter-sale", disabled: sale.status !== "OPEN",
    onclick: async () => {
      if (needsSignIn()) return;
      enter.disabled = true;
      try {
        const accepted = await api(`/flash-sales/${encodeURIComponent(saleId)}/entries`, { method: "POST", body: { quantity: 1 }, key: sessionStorage.getItem(`${ticketKey}.key`) || newKey() });
        sessionStorage.setItem(ticketKey, accepted.ticket_id);
        render(accepted);
        poll(accepted.ticket_id);
      } catch (error) {
        state.replaceChildren(h("p", { class: "error" }, errorText(error)));
        enter.disabled = false;
      }
    },
  }, "Enter the sale");
  const poll = async (ticketId) => {
    for (;;) {
      const ticket = await api(`/flash-sales/${encodeURIComponent(saleId)}/entries/${encodeURIComponent(ticketId)}`);
      if (mine !== page) return;
      render(ticket);
      if (ticket.status !== "QUEUED") return;
      await sleep(POLL_MS);
    }
  };
  show("Flash sale",
    h("h1", {}, "Flash sale"),
    sale.product_id ? h("p", {}, h("a", { href: `#/product/${encodeURIComponent(sale.product_id)}`, id: "sale-product" }, sale.name || sale.sku)) : null,
    h("p", {}, `SKU ${sale.sku} at `, h("span", { class: "price" }, money(sale.price)), ` · ${sale.remaining} of ${sale.quantity} left · limit ${sale.per_customer_limit} each`),
    h("p", {}, "Status: ", h("span", { class: "status" }, sale.status), ` · ends ${when(sale.ends_at)}`),
    enter, state,
  );
  const known = session.signedIn() && sessionStorage.getItem(ticketKey);
  if (known) { enter.disabled = true; poll(known); }
}

start();
