// Small DOM helpers: elements are built, never parsed from strings (no HTML injection).

/** h("a", {href: "#/"}, "Home", child) -> an element. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function money(value) {
  if (!value) return "";
  return new Intl.NumberFormat("en-GB", { style: "currency", currency: value.currency })
    .format(value.amount / 100);
}

export function when(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

/** Show a page: its content replaces main's, its title the document's, focus moves to it. */
export function show(title, ...content) {
  const main = document.getElementById("main");
  document.title = `${title} · Shop`;
  main.replaceChildren(...content.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

/** A quiet notice at the top of the page (role=status): for what is degraded, not broken. */
export function notify(text, { id } = {}) {
  const notices = document.getElementById("notices");
  if (id && notices.querySelector(`[data-id="${id}"]`)) return;
  notices.append(h("p", { class: "notice", dataset: { id: id || "" } }, text));
}

export function clearNotices() {
  document.getElementById("notices").replaceChildren();
}

/** An inline quiet notice inside a section (e.g. recommendations unavailable). */
export function quiet(text) {
  return h("p", { class: "notice", role: "status" }, text);
}

export function errorText(error) {
  return error && error.message ? error.message : "Something went wrong; please try again.";
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function productCard(item) {
  const price = item.price || (item.variants && item.variants[0] && item.variants[0].price);
  return h("li", { class: "card" },
    h("a", { href: `#/product/${encodeURIComponent(item.product_id)}` },
      item.highlight ? highlighted(item.highlight) : item.name),
    item.category ? h("span", { class: "muted" }, categoryName(item.category)) : null,
    price ? h("span", { class: "price" }, money(price)) : null,
    item.reason ? h("span", { class: "muted" }, item.reason) : null,
    item.in_stock === false ? h("span", { class: "muted" }, "Out of stock") : null,
  );
}

export function categoryName(slug) {
  const words = String(slug).replace(/-/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Search's highlight (the name, matched words in <em>, the rest HTML-escaped): its text and
 * its marks only, whatever else the string holds. DOMParser runs no script. */
function highlighted(html) {
  const doc = new DOMParser().parseFromString(`<p>${html}</p>`, "text/html");
  const out = document.createElement("span");
  for (const node of doc.body.firstChild ? doc.body.firstChild.childNodes : []) {
    if (node.nodeName === "EM") out.append(h("mark", {}, node.textContent));
    else out.append(node.textContent);
  }
  return out;
}
