// Routing between views and the one live event stream (Server-Sent Events) they all share.
import { bus, loadSenses } from "./util.js";
import { showOverview } from "./overview.js";
import { showDevice } from "./device.js";
import { showAlarms } from "./alarms.js";
import { showStats } from "./stats.js";

const view = document.getElementById("view");
let leave = () => {};

function route() {
  leave();
  view.replaceChildren();
  const [, page, ...rest] = location.hash.replace(/^#/, "").split("/");
  const parts = rest.map(decodeURIComponent);
  document.querySelectorAll("[data-nav]").forEach((a) => {
    a.classList.toggle("active", a.dataset.nav === (page || "overview"));
  });
  if (page === "device") leave = showDevice(view, parts[0], parts[1]);
  else if (page === "alarms") leave = showAlarms(view, parts[0]);
  else if (page === "stats") leave = showStats(view);
  else leave = showOverview(view);
}

function connect() {
  const link = document.getElementById("link");
  const source = new EventSource("/api/events");
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

function tick() {
  document.getElementById("clock").textContent = new Date().toLocaleTimeString();
}

window.addEventListener("hashchange", route);
await loadSenses();
connect();
route();
tick();
setInterval(tick, 1000);
