// Alarm list with filters; each alarm opens its evidence and can be acknowledged (MQTT ack).
import { calibrated, decadesText, el, evidenceRank, getJSON, MODALITIES, on, postJSON, score, scoreText, time }
  from "./util.js";

const RANGES = { "1": "last hour", "24": "last 24 h", "168": "last 7 days", "720": "last 30 days" };
const SEVERITIES = ["warning", "major", "critical"];

function select(name, options, label) {
  return el("label", {}, label,
    el("select", { name }, el("option", { value: "" }, "all"),
      options.map(([value, text]) => el("option", { value }, text))));
}

function evidenceView(alarmId, file) {
  const url = `/api/alarms/${encodeURIComponent(alarmId)}/evidence/${encodeURIComponent(file.kind)}`;
  let body;
  if (file.media_type.startsWith("image/")) {
    body = el("img", { class: `evidence-image ${file.kind}`, src: url, alt: `${file.kind} evidence` });
  } else if (file.media_type.startsWith("audio/")) {
    body = el("audio", { class: "evidence-audio", controls: true, src: url });
  } else {
    body = el("div", { class: "evidence-json" }, "loading…");
    getJSON(url).then((data) => body.replaceChildren(jsonTable(data)))
      .catch((err) => body.replaceChildren(String(err)));
  }
  return el("figure", { class: "evidence", dataset: { kind: file.kind } },
    body, el("figcaption", {}, `${file.kind} · ${file.media_type} · ${file.size} bytes`));
}

// The sensor evidence: {window: [{captured_at, values: {name: v}}], units, score, label, ...}.
// One row per register summarises the window; anything else is shown as JSON.
function jsonTable(data) {
  const window = Array.isArray(data.window) ? data.window : [];
  if (!window.length) return el("pre", { class: "evidence-raw" }, JSON.stringify(data, null, 1));
  const names = Object.keys(window[window.length - 1].values || {});
  const units = data.units || {};
  const flagged = new Set(data.evidence?.out_of_range || []);
  const fixed = (x) => (typeof x === "number" ? x.toFixed(3) : "–");
  const rows = names.map((name) => {
    const series = window.map((s) => s.values?.[name]).filter((v) => typeof v === "number");
    const mean = series.reduce((a, b) => a + b, 0) / (series.length || 1);
    return el("tr", { class: name === data.label || flagged.has(name) ? "driving" : "" },
      el("th", {}, name), el("td", {}, units[name] || ""),
      el("td", {}, fixed(series[series.length - 1])), el("td", {}, fixed(Math.min(...series))),
      el("td", {}, fixed(Math.max(...series))), el("td", {}, fixed(mean)));
  });
  return el("div", {},
    el("p", { class: "muted" }, `${window.length} readings, ${time(window[0].captured_at)} – `,
      `${time(window[window.length - 1].captured_at)} · score ${score(data.score)} · `,
      `driven by ${data.label ?? "–"}`),
    el("table", { class: "compact" },
      el("tr", {}, ["register", "unit", "last", "min", "max", "mean"].map((h) => el("th", {}, h))),
      rows));
}

// A learned device's senses: decades of rarity against each sense's own threshold.
function modalityTable(payload) {
  const mods = payload.modalities || {};
  const learned = calibrated(mods);
  const shown = (v) => (learned ? `${decadesText(v.score)}/${decadesText(v.threshold)}` : score(v.score));
  const heads = [learned ? "decades / own threshold" : "score", "weight", "contribution", "label"];
  return el("table", { class: "compact" },
    el("tr", {}, ["modality", ...heads].map((h) => el("th", {}, h))),
    MODALITIES.filter((m) => mods[m]).map((m) => el("tr", {},
      el("td", {}, m), el("td", {}, mods[m].stale ? "stale" : shown(mods[m])),
      el("td", {}, score(mods[m].weight)),
      el("td", {}, score(mods[m].contribution)),
      el("td", {}, mods[m].label ?? "–"))));
}

// Built once per opened alarm, so live re-renders of the detail keep what the operator typed.
// `form.seen(acks)`, at each re-render: once the broker's echo of the ack sent is in the list,
// the form says so instead of "waiting".
function ackForm(onAck) {
  const by = el("input", { name: "by", placeholder: "your name", required: true,
    value: localStorage.getItem("ackBy") || "" });
  const note = el("input", { name: "note", placeholder: "note (optional)" });
  const result = el("span", { class: "ack-result" });
  const button = el("button", { id: "ack-button", type: "submit" }, "Acknowledge");
  let waiting = null;  // the ack sent and not yet seen back ({by, at} as published)
  const form = el("form", { class: "ack", onsubmit: async (event) => {
    event.preventDefault();
    localStorage.setItem("ackBy", by.value);
    button.disabled = true;
    try {
      const sent = await onAck(by.value, note.value);
      waiting = sent;
      result.textContent = "sent; waiting for the broker…";
    } catch (err) {
      result.textContent = `not sent: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  } }, by, note, button, result);
  form.seen = (acks) => {
    if (waiting !== null && acks.some((a) => a.by === waiting.by && a.at === waiting.at)) {
      waiting = null;
      result.textContent = "acknowledged: the broker has it";
    }
  };
  return form;
}

// The detail is drawn again at every event of its alarm (updates come each second while it is
// open). The acknowledgement comes first, so what loads below never moves the form under the
// operator's pointer; an evidence file already shown is reused from `views` (by alarm, kind and
// size), so its image is not fetched and laid out again.
function detailView(alarm, form, views) {
  const p = alarm.payload || {};
  const listed = (p.evidence_files || []).map((f) => f.kind);
  const have = new Set(alarm.evidence_files.map((f) => f.kind));
  const waiting = listed.filter((k) => !have.has(k));
  const acks = alarm.acks.map((a) => el("li", {}, `acknowledged by ${a.by} at ${time(a.at)}`, a.note ? ` — ${a.note}` : ""));
  form.seen(alarm.acks);
  const shown = (f) => {
    const key = `${alarm.id}/${f.kind}/${f.size}`;
    if (!views.has(key)) views.set(key, evidenceView(alarm.id, f));
    return views.get(key);
  };
  return el("div", { class: "detail", dataset: { alarmId: alarm.id } },
    el("h2", {}, `${alarm.device}: ${alarm.type} `, el("span", { class: `sev ${alarm.severity}` }, alarm.severity)),
    el("p", { class: "alarm-score" }, `score ${scoreText(alarm.score, alarm.learned)} ` +
      `(threshold ${scoreText(p.threshold, alarm.learned)}, rule ${p.rule ?? "–"}) · `,
      `${alarm.event} · first seen ${time(alarm.first_at)} · raised ${time(p.raised_at)}`),
    el("h3", {}, "Acknowledgement"),
    acks.length ? el("ul", { class: "acks" }, acks) : el("p", { class: "muted" }, "not acknowledged yet"),
    form,
    el("h3", {}, "Senses"),
    modalityTable(p),
    el("h3", {}, "Evidence"),
    el("div", { class: "evidence-grid" },
      alarm.evidence_files.length ? [...alarm.evidence_files]
        .sort((a, b) => evidenceRank(a.kind) - evidenceRank(b.kind)).map(shown)
        : el("p", { class: "muted" }, "no evidence files received")),
    waiting.length ? el("p", { class: "muted" }, `waiting for: ${waiting.join(", ")}`) : null);
}

export function showAlarms(root, openId) {
  const filters = el("form", { class: "filters" },
    select("device", [], "device "), select("type", [], "type "),
    select("severity", SEVERITIES.map((s) => [s, s]), "severity "),
    el("label", {}, "time ", el("select", { name: "hours" },
      Object.entries(RANGES).map(([v, t]) => el("option", { value: v, selected: v === "24" }, t)))));
  const table = el("table", { class: "alarms" });
  const detail = el("div", { class: "detail-pane" }, el("p", { class: "muted" }, "select an alarm"));
  root.append(el("h2", {}, "Alarms"), filters, el("div", { class: "split wide-left" }, table, detail));
  let alarms = [];
  let current = openId;

  const values = () => Object.fromEntries(new FormData(filters));
  function matches(a) {
    const f = values();
    return ["device", "type", "severity"].every((k) => !f[k] || a[k] === f[k]);
  }
  function fillOptions(name, seen) {
    const box = filters.elements[name];
    const have = new Set([...box.options].map((o) => o.value));
    [...seen].sort().filter((v) => v && !have.has(v)).forEach((v) => box.append(el("option", { value: v }, v)));
  }
  function draw() {
    fillOptions("device", new Set(alarms.map((a) => a.device)));
    fillOptions("type", new Set(alarms.map((a) => a.type)));
    const rows = alarms.filter(matches).map((a) => el("tr", {
      class: `${a.severity}${a.id === current ? " selected" : ""}${a.acks.length ? " acked" : ""}`,
      dataset: { alarmId: a.id }, onclick: () => { history.replaceState(null, "", `#/alarms/${a.id}`); open(a.id); } },
      el("td", {}, time(a.first_at)), el("td", {}, a.device), el("td", {}, a.type),
      el("td", {}, el("span", { class: `sev ${a.severity}` }, a.severity)),
      el("td", {}, scoreText(a.score, a.learned)),
      el("td", {}, a.event), el("td", {}, a.acks.length ? `✔ ${a.acks[a.acks.length - 1].by}` : "")));
    table.replaceChildren(el("tr", {}, ["time", "device", "type", "severity", "score", "state", "ack"]
      .map((h) => el("th", {}, h))), ...rows);
    if (!rows.length) table.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "no alarms")));
  }
  async function load() {
    const f = values();
    const query = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
    alarms = (await getJSON(`/api/alarms?${query}`)).alarms;
    draw();
  }
  let form = null;
  let views = new Map();  // the open alarm's evidence, as shown
  async function open(id) {
    if (id !== current || !form) {
      form = ackForm((by, note) => postJSON(`/api/alarms/${encodeURIComponent(id)}/ack`, { by, note }));
      views = new Map();
    }
    current = id;
    if (!id) return;
    try {
      const alarm = await getJSON(`/api/alarms/${encodeURIComponent(id)}`);
      if (id !== current) return;  // another alarm was opened meanwhile
      detail.replaceChildren(detailView(alarm, form, views));
    } catch (err) {
      detail.replaceChildren(el("p", { class: "muted" }, String(err)));
    }
    draw();
  }
  function upsert(alarm) {
    if (!alarm) return;
    alarms = [alarm, ...alarms.filter((a) => a.id !== alarm.id)].sort((a, b) => b.first_at - a.first_at);
    draw();
    if (alarm.id === current) open(current);
  }
  filters.addEventListener("change", load);
  load().then(() => open(current));
  const offs = [
    on("alarm", (e) => upsert(e.alarm)),
    on("ack", (e) => upsert(e.alarm)),
    on("evidence", (e) => { if (e.id === current) open(current); }),
    on("reconnected", load),
  ];
  return () => offs.forEach((off) => off());
}
