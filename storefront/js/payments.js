// 3-D Secure. The checkout says what the customer must do (`next_action`, Stripe's shape). On
// AWS, Stripe.js runs the bank's challenge: stripe.handleNextAction({clientSecret}). Locally
// the Stripe emulator stands in for the bank: a dialog asks the shopper to approve or refuse,
// and the answer is posted to the emulator with the publishable key, as Stripe.js would.
import { h } from "./ui.js";

let settings = { mode: "emulator", api_base: "", publishable_key: "pk_test_shop_local" };
let stripeJs = null;

export function configurePayments(stripe) {
  settings = stripe || settings;
}

/** Stripe's documented test payment methods the checkout offers. */
export const TEST_CARDS = [
  { id: "pm_card_visa", label: "Visa ending 4242 (succeeds)" },
  { id: "pm_card_authenticationRequired", label: "Visa ending 3184 (asks for 3-D Secure)" },
  { id: "pm_card_chargeDeclined", label: "Visa ending 0002 (declined)" },
];

/** Run the customer's step; resolves once they have answered (the saga then goes on). */
export async function handleNextAction(action) {
  if (settings.mode === "stripe") {
    const stripe = await loadStripe();
    const result = await stripe.handleNextAction({ clientSecret: action.client_secret });
    return !result.error;
  }
  const approved = await askInDialog();
  const response = await fetch(
    `${settings.api_base}/v1/payment_intents/${encodeURIComponent(action.payment_intent_id)}/_authenticate`,
    {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        key: settings.publishable_key,
        client_secret: action.client_secret,
        success: approved ? "true" : "false",
      }),
    },
  );
  if (!response.ok) throw new Error("Your bank could not be reached; please try again.");
  return approved;
}

function askInDialog() {
  return new Promise((resolve) => {
    const answer = (approved) => () => { dialog.close(); dialog.remove(); resolve(approved); };
    const dialog = h("dialog", { "aria-labelledby": "tds-title", id: "three-d-secure" },
      h("h2", { id: "tds-title" }, "Confirm it is you"),
      h("p", {}, "Your bank asks you to approve this payment (3-D Secure test page)."),
      h("div", { class: "row" },
        h("button", { type: "button", onclick: answer(true) }, "Approve payment"),
        h("button", { type: "button", class: "secondary", onclick: answer(false) }, "Refuse"),
      ),
    );
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    document.body.append(dialog);
    dialog.showModal();
  });
}

function loadStripe() {
  if (stripeJs) return stripeJs;
  stripeJs = new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "https://js.stripe.com/v3/";
    script.onload = () => resolve(window.Stripe(settings.publishable_key));
    script.onerror = () => reject(new Error("Stripe.js did not load"));
    document.head.append(script);
  });
  return stripeJs;
}
