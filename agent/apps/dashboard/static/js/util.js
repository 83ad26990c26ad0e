// Small helpers shared by every view: fetching, building elements, formatting, live events.

export const bus = new EventTarget();

export async function getJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

// el("div", {class: "x", onclick: f}, child, "text") -> HTMLElement
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child != null) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function score(value) {
  return value == null ? "–" : Number(value).toFixed(2);
}

// A device that has learned its own normal publishes calibrated scores: the chance that a
// healthy sample of this machine scores lower. Their meaning is in the nines, so they are
// shown as decades of rarity: d means one healthy sample in 10^d scores as high. A double
// holds about 16 nines.
export const MAX_DECADES = 16;

export function decades(value) {
  if (value == null) return null;
  return Math.min(MAX_DECADES, -Math.log10(Math.max(1 - Number(value), 10 ** -MAX_DECADES)));
}

export function decadesText(value) {
  const d = decades(value);
  return d == null ? "–" : d.toFixed(1);
}

// Learned: its senses carry their own calibrated thresholds.
export function calibrated(modalities) {
  return Object.values(modalities || {}).some((v) => v.threshold != null);
}

// A score as a person reads it: a learned device's in decades, a shipped one's from 0 to 1.
export function scoreText(value, learned) {
  return learned ? `${decadesText(value)} decades` : score(value);
}

export function time(value) {
  if (value == null) return "–";
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

// Subscribe to live events of one type for as long as a view is shown; returns the undo.
export function on(type, handler) {
  const listener = (event) => handler(event.detail);
  bus.addEventListener(type, listener);
  return () => bus.removeEventListener(type, listener);
}

// The senses as the agent's registry lists them (GET /api/senses), filled once before the first view.
export const SENSES = [];
export const MODALITIES = [];
export const COLOURS = { fused: "#f5f5f5" };

export async function loadSenses() {
  const { senses } = await getJSON("/api/senses");
  SENSES.push(...senses);
  MODALITIES.push(...senses.map((s) => s.name));
  senses.forEach((s) => { COLOURS[s.name] = s.colour; });
}

// Rank of an evidence file in the registry's order of senses; unknown kinds last.
export function evidenceRank(kind) {
  const index = SENSES.findIndex((s) => s.evidence_kind === kind);
  return index < 0 ? SENSES.length : index;
}
