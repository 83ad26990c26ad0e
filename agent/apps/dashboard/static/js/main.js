// Routing between views, and the live event stream (Server-Sent Events) of the view shown: a
// device's page asks for that device's trend points and snapshots; every other view for the
// tiles of all devices, alarms and acks.
import { bus, getJSON, loadSenses } from "./util.js";
import { showOverview } from "./overview.js";
import { showDevice } from "./device.js";
import { showAlarms } from "./alarms.js";
import { showStats } from "./stats.js";

const view = document.getElementById("view");
const REFUSED_POLL_MS = 5000;
let leave = () => {};

function route() {
  leave();
  view.replaceChildren();
  const [, page, ...rest] = location.hash.replace(/^#/, "").split("/");
  const parts = rest.map(decodeURIComponent);
  document.querySelectorAll("[data-nav]").forEach((a) => {
    a.classList.toggle("active", a.dataset.nav === (page || "overview"));
  });
  listen(page === "device" ? `?site=${encodeURIComponent(parts[0] ?? "")}&device=${encodeURIComponent(parts[1] ?? "")}` : "");
  if (page === "device") leave = showDevice(view, parts[0], parts[1]);
  else if (page === "alarms") leave = showAlarms(view, parts[0]);
  else if (page === "stats") leave = showStats(view);
  else leave = showOverview(view);
}

let source = null;
let listening = null;

// (Re)opens the stream when the view wants other events; each opening reloads the view, so
// nothing sent before it is missed.
function listen(query) {
  if (query === listening) return;
  source?.close();
  listening = query;
  const link = document.getElementById("link");
  source = new EventSource(`/api/events${query}`);
  source.onopen = () => {
    link.textContent = "live";
    link.className = "link up";
    bus.dispatchEvent(new CustomEvent("reconnected"));
  };
  source.onerror = () => {
    link.textContent = "reconnecting…";
    link.className = "link down";
  };
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    bus.dispatchEvent(new CustomEvent(event.type, { detail: event }));
  };
}

// Messages the dashboard refused (malformed, oversized…) show in the header, or the
// only sign of a publisher sending bad data would be the dashboard's log.
async function showRefused() {
  const badge = document.getElementById("refused");
  try {
    const { rejected } = await getJSON("/api/ingest");
    const total = rejected.reduce((sum, r) => sum + r.count, 0);
    badge.hidden = total === 0;
    badge.textContent = `${total} message${total === 1 ? "" : "s"} refused`;
    badge.title = rejected.map((r) => `${r.topic_kind}: ${r.reason} × ${r.count}`).join("\n");
  } catch {
    // the next poll tries again; the link badge already says when the server is away
  }
}

function tick() {
  document.getElementById("clock").textContent = new Date().toLocaleTimeString();
}

window.addEventListener("hashchange", route);
await loadSenses();
route();
tick();
setInterval(tick, 1000);
showRefused();
setInterval(showRefused, REFUSED_POLL_MS);
