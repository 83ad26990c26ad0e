// Overview: one tile per device, each site's inspection round, and the latest alarms.
import { calibrated, decades, decadesText, el, getJSON, MODALITIES, on, score, time } from "./util.js";

// C2 health entries that need an operator's eye: sources and models not ok (nor starting).
function healthProblems(health) {
  const problems = [];
  for (const part of ["sources", "models"]) {
    for (const [modality, h] of Object.entries(health?.[part] || {})) {
      if (!["ok", "starting"].includes(h.state)) {
        const what = part === "sources" ? "source" : "model";
        problems.push(el("li", {}, `${modality} ${what} ${h.state}`, h.reason ? `: ${h.reason}` : ""));
      }
    }
  }
  return problems.length ? el("ul", { class: "health-problems" }, problems) : null;
}

// While a device learns its own normal: how far it is, and what looks wrong with its data.
function learningNote(learning) {
  if (!learning) return null;
  const problems = [...(learning.problems || []), ...(learning.refused || []).map((r) => `refused: ${r}`)];
  return el("div", { class: "learning-note" },
    el("div", { class: "learning-track" },
      el("span", { class: "learning-fill", style: `width:${Math.round(100 * learning.progress)}%` })),
    el("span", {}, `learning ${Math.round(100 * learning.progress)}% · ${learning.reason}`),
    problems.length ? el("ul", { class: "health-problems" }, problems.map((p) => el("li", {}, p))) : null);
}

// The learned senses whose scores reach rare levels far more often than a healthy machine's
// would (agent/core/calibration_check.py): a fault growing below the threshold, or a new normal.
function calibrationNote(check) {
  const higher = Object.entries(check?.senses || {}).filter(([, c]) => c.verdict === "higher");
  if (!higher.length) return null;
  return el("ul", { class: "health-problems calibration-note" }, higher.map(([sense, c]) => {
    const worst = c.levels.reduce((a, b) => ((b.ratio ?? 0) > (a?.ratio ?? 0) ? b : a), null);
    const how = worst ? `1-in-10^${worst.decades} scores ${Math.round(worst.ratio)}× as often`
      : "rare scores more often";
    return el("li", { dataset: { sense } },
      `${sense}: ${how} as its normal promised (a fault growing, or a new normal)`);
  }));
}

// When and why the version a device judges by was learned (its card's learned_at and reason).
export function learnedAbout(t) {
  if (!t.learned_version) return "";
  const when = t.learned_at ? ` on ${time(t.learned_at)}` : "";
  return `version ${t.learned_version}, learned${when}${t.learned_reason ? `: ${t.learned_reason}` : ""}`;
}

// The calibration check as a table: per learned sense, scores judged with no alarm open and
// how many reached each level of rarity against how many a healthy machine would.
export function calibrationTable(check) {
  const senses = Object.entries(check?.senses || {});
  if (!senses.length) return null;
  const levels = senses[0][1].levels.map((l) => l.decades);
  return el("div", { class: "calibration-check" },
    el("h3", {}, `Calibration check since ${time(check.since)}`),
    el("table", { class: "compact" },
      el("tr", {}, el("th", {}, "sense"), el("th", {}, "judged"),
        levels.map((d) => el("th", { title: `reached / a healthy machine's ${10 ** d}th` }, `1 in 10^${d}`)),
        el("th", {}, "verdict")),
      senses.map(([sense, c]) => el("tr", { dataset: { sense } },
        el("td", {}, sense), el("td", {}, String(c.judged)),
        c.levels.map((l) => el("td", {}, `${l.reached} / ${Number(l.expected).toFixed(1)}`)),
        el("td", { class: `verdict ${c.verdict}` }, c.verdict)))),
    el("p", { class: "muted" }, "Counted while no alarm is open. A healthy machine reaches each level no more often " +
      "than expected; \"higher\" means far more often: a fault growing below the threshold, or a new normal " +
      "(learn again after maintenance)."));
}

// A learned sense's bar: its decades of rarity, full at its own threshold.
function rarityBar(v) {
  const d = decades(v.score) ?? 0;
  const level = decades(v.threshold);
  return {
    width: Math.round(100 * Math.min(1, d / level)),
    text: `${d.toFixed(1)}/${level.toFixed(1)}`,
    title: `1 in 10^${d.toFixed(1)} healthy samples of this machine score as high; ` +
      `its own threshold is 10^${level.toFixed(1)}`,
  };
}

export function tile(t) {
  const href = `#/device/${encodeURIComponent(t.site)}/${encodeURIComponent(t.device)}`;
  const driver = t.driver ? `${t.driver}${t.type && t.type !== "none" ? ` · ${t.type}` : ""}` : "–";
  const learned = calibrated(t.modalities);
  const bars = MODALITIES.filter((m) => t.modalities[m]).map((m) => {
    const v = t.modalities[m];
    const bar = learned && v.threshold != null ? rarityBar(v)
      : { width: Math.round(100 * (v.score ?? 0)), text: score(v.score) };
    return el("div", { class: `bar${v.stale ? " stale" : ""}`, title: v.reason || bar.title || "" },
      el("span", { class: "bar-name" }, m),
      el("span", { class: "bar-track" }, el("span", { class: `bar-fill ${m}`, style: `width:${bar.width}%` })),
      el("span", { class: "bar-value" }, v.stale ? "stale" : bar.text));
  });
  const fused = learned
    ? [`${decadesText(t.score)} `, el("span", { class: "tile-threshold" }, `/ ${decadesText(t.threshold)} decades`)]
    : [score(t.score), el("span", { class: "tile-threshold" }, ` / ${score(t.threshold)}`)];
  return el("a", { class: `tile ${t.state}`, href, dataset: { device: t.device, site: t.site, state: t.state } },
    el("div", { class: "tile-head" },
      el("span", { class: "tile-name" }, t.device),
      el("span", { class: `badge ${t.state}` }, t.state)),
    el("div", { class: "tile-site" }, t.site),
    el("div", { class: "tile-score", dataset: { scale: learned ? "decades" : "score" } }, ...fused),
    el("div", { class: "tile-driver" }, "driven by ", el("b", {}, driver)),
    el("div", { class: "tile-judged", title: learnedAbout(t) }, t.learned_version
      ? `judged by its own normal, learned v${t.learned_version}` : "judged by the shipped models"),
    el("div", { class: "bars" }, bars),
    learningNote(t.learning),
    calibrationNote(t.calibration_check),
    healthProblems(t.health),
    el("div", { class: "tile-time" }, `updated ${time(t.updated_at)}`));
}

function inspectionPanel(site, round) {
  const total = round.devices_total || 0;
  const done = round.devices_done || 0;
  return el("section", { class: "inspection", dataset: { site } },
    el("h3", {}, `${site}: inspection round ${round.round ?? "–"}`),
    el("div", { class: "progress" },
      el("span", { class: "progress-fill", style: `width:${total ? (100 * done) / total : 0}%` })),
    el("div", { class: "progress-text" }, `${done} of ${total} devices inspected`,
      round.finished_at ? ` · finished ${time(round.finished_at)}` : ""),
    el("table", { class: "compact" },
      el("tr", {}, el("th", {}, "device"), el("th", {}, "result"), el("th", {}, "time"), el("th", {}, "score")),
      (round.devices || []).map((d) => el("tr", {},
        el("td", {}, d.device), el("td", { class: d.result }, d.result),
        el("td", {}, `${Number(d.duration_s).toFixed(1)} s`), el("td", {}, score(d.score))))));
}

export function alarmLine(a) {
  const acked = a.acks && a.acks.length;
  return el("a", { class: `alarm-line ${a.severity}${acked ? " acked" : ""}`, href: `#/alarms/${a.id}`,
    dataset: { alarmId: a.id } },
    el("span", {}, time(a.first_at)), el("b", {}, a.device), el("span", {}, a.type),
    el("span", { class: `sev ${a.severity}` }, a.severity), el("span", {}, a.event),
    el("span", {}, acked ? `ack: ${a.acks[a.acks.length - 1].by}` : "unacknowledged"));
}

export function showOverview(root) {
  const tiles = el("div", { class: "tiles", id: "tiles" });
  const rounds = el("div", { class: "rounds" });
  const recent = el("div", { class: "recent" });
  root.append(el("h2", {}, "Devices"), tiles,
    el("div", { class: "split" },
      el("div", {}, el("h2", {}, "Inspection"), rounds),
      el("div", {}, el("h2", {}, "Latest alarms (24 h)"), recent)));
  const byKey = new Map();
  const alarms = new Map();

  function putTile(t) {
    const key = `${t.site}/${t.device}`;
    const node = tile(t);
    if (byKey.has(key)) byKey.get(key).replaceWith(node);
    else tiles.append(node);
    byKey.set(key, node);
  }
  function putRound(site, round) {
    const old = rounds.querySelector(`[data-site="${CSS.escape(site)}"]`);
    const node = inspectionPanel(site, round);
    rounds.querySelector("p.muted")?.remove();
    if (old) old.replaceWith(node);
    else rounds.append(node);
  }
  function drawAlarms() {
    const list = [...alarms.values()].sort((a, b) => b.first_at - a.first_at).slice(0, 10);
    recent.replaceChildren(...(list.length ? list.map(alarmLine) : [el("p", { class: "muted" }, "none")]));
  }
  async function load() {
    const data = await getJSON("/api/overview");
    data.devices.forEach(putTile);
    Object.entries(data.inspections).forEach(([site, round]) => putRound(site, round));
    if (!data.devices.length) tiles.append(el("p", { class: "muted" }, "waiting for devices…"));
    if (!Object.keys(data.inspections).length) {
      rounds.replaceChildren(el("p", { class: "muted" }, "no inspection round reported yet"));
    }
    const list = await getJSON("/api/alarms?hours=24");
    list.alarms.forEach((a) => alarms.set(a.id, a));
    drawAlarms();
  }
  load();
  const offs = [
    on("device", (e) => { tiles.querySelector("p.muted")?.remove(); putTile(e.tile); }),
    on("inspection", (e) => putRound(e.site, e.inspection)),
    on("alarm", (e) => { alarms.set(e.alarm.id, e.alarm); drawAlarms(); }),
    on("ack", (e) => { alarms.set(e.alarm.id, e.alarm); drawAlarms(); }),
    on("reconnected", load),
  ];
  return () => offs.forEach((off) => off());
}
