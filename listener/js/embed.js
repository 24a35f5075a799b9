// Rebound one-tag embed: builds the recovery iframe from this page's URL and
// starts the listener. See docs/partner-guide.md.
//
//   <div id="rebound-recovery"></div>
//   <script type="module" src="https://HOST/sdk/embed.js" data-target="#rebound-recovery"></script>
//
// A module runs once per page even when several tags load it, so it serves
// every <script> tag that points at it: several embeds on one page each get
// their own iframe, embed id and listener.

const here = import.meta.url;
const base = new URL(".", here);
const host = base.origin;

const { default: init, RecoveryListener } = await import(new URL("rebound_listener.js", base).href);
await init({ module_or_path: new URL("rebound_listener_bg.wasm", base) });

const INTENTS = ["connected", "reactivate", "reschedule", "updateIdKey", "notice", "home", "resize"];
const cap = (s) => s[0].toUpperCase() + s.slice(1);

function globalFunction(name) {
  const f = window[name];
  if (typeof f !== "function") throw new Error(`rebound embed: window.${name} is not a function`);
  return f;
}

// The recovery token opens a customer's case: it leaves this page's address
// bar (history, screenshots, shared links, analytics) as soon as it is read,
// and stays for this tab only, so a reload still finds it.
const TOKEN_KEY = "rebound:token";
const pageToken = (() => {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get("token");
  if (fromUrl === null) {
    try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
  }
  try { sessionStorage.setItem(TOKEN_KEY, fromUrl); } catch {}
  url.searchParams.delete("token");
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  return fromUrl;
})();

// A card window that took the whole tab (popups blocked) comes back here
// naming itself; the frame asks our server what became of it. Read once,
// and out of the address bar like the token.
const CARD_PARAM = "rebound_card";
const cardWindow = (() => {
  const url = new URL(location.href);
  const id = url.searchParams.get(CARD_PARAM);
  if (id === null) return null;
  url.searchParams.delete(CARD_PARAM);
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  return id;
})();

function embed(script) {
  const d = script.dataset;
  // Only what the recovery page needs: the token and the language. Nothing
  // else of this page's URL (campaign tags, the partner's own parameters)
  // goes to another origin.
  const src = new URL("/embed/recovery", host);
  const token = d.token || pageToken;
  if (token) src.searchParams.set("token", token);
  const lang = d.lang || new URLSearchParams(location.search).get("lang");
  if (lang) src.searchParams.set("lang", lang);
  const embedId = crypto.randomUUID();
  src.searchParams.set("origin", location.origin);
  // Where the card window comes back to when it had to take the whole tab
  // (popups blocked): this page's address without its query or fragment.
  src.searchParams.set("back", location.origin + location.pathname);
  if (cardWindow && !d.token) src.searchParams.set("cardWindow", cardWindow);
  src.searchParams.set("embedId", embedId);

  const iframe = document.createElement("iframe");
  iframe.title = d.title || "결제 복구";
  iframe.style.cssText = "display:block;width:100%;height:560px;border:0";
  iframe.dataset.reboundEmbedId = embedId;

  // Every accepted message becomes a DOM event on the iframe (bubbling:
  // listen on document), and calls the named global function if given.
  const emit = (type, detail) =>
    iframe.dispatchEvent(new CustomEvent(type, { detail, bubbles: true }));
  const options = { host, embedId, onDrop: (reason) => emit("rebound:drop", reason) };
  for (const intent of INTENTS) {
    const named = d[`on${cap(intent)}`] && globalFunction(d[`on${cap(intent)}`]);
    options[`on${cap(intent)}`] = (message) => {
      emit(`rebound:${intent}`, message);
      if (named) named(message);
    };
  }
  if (d.homeUrl && !d.onHome) {
    const home = new URL(d.homeUrl, location.href);
    if (home.origin !== location.origin) throw new Error("rebound embed: data-home-url must be on this site");
    const onHome = options.onHome;
    options.onHome = (message) => {
      onHome(message);
      location.assign(home.href);
    };
  }
  const endpoints = {};
  for (const intent of INTENTS) {
    const url = d[`endpoint${cap(intent)}`];
    if (url) endpoints[intent] = url;
  }
  if (Object.keys(endpoints).length) options.endpoints = endpoints;
  if (d.csrfHeader) {
    const meta = document.querySelector('meta[name="csrf-token"]');
    options.csrf = { header: d.csrfHeader, token: d.csrfToken ?? meta?.content ?? "" };
  }
  if (d.minHeight) options.minHeight = Number(d.minHeight);
  if (d.maxHeight) options.maxHeight = Number(d.maxHeight);

  // Bound before the iframe has a src: not even the first message is missed.
  const listener = new RecoveryListener(iframe, options);
  const target = d.target ? document.querySelector(d.target) : null;
  if (target) target.append(iframe);
  else script.after(iframe);
  iframe.reboundListener = listener;
  iframe.src = src.href;
}

for (const script of document.querySelectorAll("script[src]")) {
  if (script.src === here && !script.dataset.reboundStarted) {
    script.dataset.reboundStarted = "1";
    embed(script);
  }
}
