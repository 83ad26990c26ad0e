// Anomaly statistics: alarms per device and per type, per day.
import { el, getJSON, on } from "./util.js";

function matrix(title, rows) {
  const days = [...new Set(rows.map((r) => r.day))].sort();
  const names = [...new Set(rows.map((r) => r.name ?? "–"))].sort();
  const count = new Map(rows.map((r) => [`${r.day}|${r.name ?? "–"}`, r.n]));
  const peak = Math.max(1, ...rows.map((r) => r.n));
  return el("section", { class: "stats" }, el("h3", {}, title),
    rows.length ? el("table", { class: "compact" },
      el("tr", {}, el("th", {}, "day"), names.map((n) => el("th", {}, n)), el("th", {}, "total")),
      days.map((d) => {
        const cells = names.map((n) => count.get(`${d}|${n}`) || 0);
        return el("tr", {}, el("td", {}, d), cells.map((n) => el("td", { class: "count" },
          el("span", { class: "count-bar", style: `width:${(60 * n) / peak}px` }), ` ${n}`)),
          el("td", {}, cells.reduce((a, b) => a + b, 0)));
      })) : el("p", { class: "muted" }, "no alarms in this period"));
}

export function showStats(root) {
  const days = el("select", {}, [["7", "last 7 days"], ["30", "last 30 days"], ["1", "today"]]
    .map(([v, t]) => el("option", { value: v }, t)));
  const body = el("div", { class: "split" });
  root.append(el("h2", {}, "Anomaly statistics ", days), body);
  async function load() {
    const data = await getJSON(`/api/stats?days=${days.value}`);
    body.replaceChildren(matrix("Alarms per device per day", data.per_device),
      matrix("Alarms per type per day", data.per_type));
  }
  days.addEventListener("change", load);
  load();
  const offs = [on("alarm", load), on("reconnected", load)];
  return () => offs.forEach((off) => off());
}
