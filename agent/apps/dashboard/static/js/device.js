// Device view: trend charts (fused and per-modality scores, max temperature, Modbus values)
// and the latest retained snapshots, all updated live. A device that has learned its own
// normal charts its calibrated scores as decades of rarity, with the device's threshold.
import { calibrated, COLOURS, decades, el, getJSON, MODALITIES, on, postJSON, SENSES } from "./util.js";
import { calibrationTable, learnedAbout, tile } from "./overview.js";
import { gapThreshold, seriesOptions, trendColumns } from "./trend.js";

const RANGES = { "1": "last hour", "24": "last 24 h" };

// One uPlot chart over the points; `series` is [{label, colour, value(point)}]; `gap()` is
// the spacing in seconds past which two points are not joined.
function chart(title, series, points, gap, range) {
  const box = el("div", { class: "chart" }, el("h3", {}, title));
  const opts = {
    width: 560, height: 220,
    scales: { y: range ? { range: () => range } : {} },
    axes: [{ stroke: "#bbb", grid: { stroke: "#333" } }, { stroke: "#bbb", grid: { stroke: "#333" } }],
    series: seriesOptions(series),
  };
  const columns = () => trendColumns(points, series, gap());
  const plot = new uPlot(opts, columns(), box);
  return { box, redraw: () => plot.setData(columns()), resize: (w) => plot.setSize({ width: w, height: 220 }) };
}

function sensorNames(points) {
  const names = new Set();
  points.forEach((p) => Object.keys(p.readings?.sensor || {}).forEach((n) => names.add(n)));
  return [...names].sort();
}

// After maintenance (a bearing replaced, a pump rebuilt) the machine's normal has changed: the
// operator asks the agent to learn it again (docs/learning.md). Only hard limits alarm meanwhile.
// A relearn that learned the wrong normal (a fault already there) is undone by rolling back to
// the version learned before.
function relearnForm(url) {
  const by = el("input", { name: "by", placeholder: "your name", required: true,
    value: localStorage.getItem("ackBy") || "" });
  const note = el("input", { name: "note", placeholder: "why (e.g. bearing replaced)" });
  const minutes = el("input", { name: "minutes", type: "number", min: "1", max: "10080",
    placeholder: "minutes (default: the device's)" });
  const result = el("span", { class: "relearn-result" });
  const button = el("button", { type: "submit" }, "Learn again");
  const back = el("button", { type: "button", class: "rollback" }, "Roll back to the version before");
  const ask = async (body, said) => {
    localStorage.setItem("ackBy", by.value);
    button.disabled = back.disabled = true;
    try {
      await postJSON(url, { ...body, by: by.value, note: note.value });
      result.textContent = said;
    } catch (err) {
      result.textContent = `not sent: ${err.message}`;
    } finally {
      button.disabled = back.disabled = false;
    }
  };
  const form = el("form", { class: "ack relearn", onsubmit: (event) => {
    event.preventDefault();
    const body = minutes.value ? { duration_s: Number(minutes.value) * 60 } : {};
    ask(body, `requested by ${by.value}; the tile shows the learning`);
  } }, by, note, minutes, button, back, result);
  back.addEventListener("click", () => {
    if (form.reportValidity()) {
      ask({ action: "rollback" }, `roll back requested by ${by.value}; the tile shows the version in use`);
    }
  });
  return el("details", { class: "relearn-box" },
    el("summary", {}, "Learn this machine's normal again (after maintenance), or roll back"),
    el("p", { class: "muted" }, "Until it has learned, only hard limits alarm on this device. " +
      "Rolling back judges it again by the version it learned before."), form);
}

// The device's tile, when and why the version it judges by was learned, its calibration check.
function headParts(t) {
  const about = learnedAbout(t);
  return [tile(t), about ? el("p", { class: "learned-about muted" }, about) : null,
    calibrationTable(t.calibration_check)].filter(Boolean);
}

const PALETTE = ["#4fc3f7", "#ff8a65", "#ba68c8", "#aed581", "#ffd54f", "#f06292", "#4db6ac", "#90a4ae"];

export function showDevice(root, site, device) {
  const head = el("div", { class: "device-head" });
  const range = el("select", {}, Object.entries(RANGES).map(([v, t]) => el("option", { value: v }, t)));
  const charts = el("div", { class: "charts" });
  const snaps = el("div", { class: "snapshots" });
  const base = `/api/devices/${encodeURIComponent(site)}/${encodeURIComponent(device)}`;
  root.append(el("h2", {}, `${device} `, el("small", {}, site), " ", range),
    el("div", { class: "split wide-left" }, el("div", {}, head, relearnForm(`${base}/learn`)), snaps), charts);
  let points = [];
  let drawn = [];
  let latest = null;  // the device's tile: whether it has learned, its threshold
  let spacing = { count: 0, gap: Infinity };  // measured again each time the points double
  const gap = () => {
    if (points.length < 50 || points.length >= 2 * spacing.count) {
      spacing = { count: points.length, gap: gapThreshold(points) };
    }
    return spacing.gap;
  };

  function snapshot(kind) {
    const img = el("img", { class: `snapshot ${kind}`, alt: `latest ${kind} snapshot`,
      src: `${base}/snapshot/${kind}?t=${Date.now()}` });
    img.onerror = () => img.replaceWith(el("p", { class: "muted snapshot-missing", dataset: { kind } },
      `no ${kind} snapshot yet`));
    const title = SENSES.find((s) => s.evidence_kind === kind)?.title ?? kind;
    return el("figure", { dataset: { kind } }, img, el("figcaption", {}, title));
  }
  function drawSnapshots() {
    snaps.replaceChildren(...SENSES.filter((s) => s.snapshot).map((s) => snapshot(s.evidence_kind)));
  }
  function drawCharts() {
    const width = Math.max(320, Math.min(900, ((charts.clientWidth || 1200) - 16) / 2 - 24));
    const learned = calibrated(latest?.modalities);
    const shown = learned ? decades : (v) => v;
    const scoreSeries = [{ label: "fused", colour: COLOURS.fused, value: (p) => shown(p.score) },
      ...MODALITIES.map((m) => ({ label: m, colour: COLOURS[m], value: (p) => shown(p.modalities[m]) }))];
    if (learned) {
      scoreSeries.push({ label: "device threshold", colour: COLOURS.fused, dash: [6, 4],
        value: () => decades(latest.threshold) });
    }
    const title = learned ? "Rarity (decades: 1 in 10^d healthy samples score as high)" : "Scores (0–1)";
    drawn = [chart(title, scoreSeries, points, gap, learned ? null : [0, 1]),
      chart("Max temperature (°C)", [{ label: "max °C", colour: COLOURS.temperature,
        value: (p) => p.readings?.max_temp_c }], points, gap)];
    drawn.push(...sensorNames(points).map((name, i) => chart(`Modbus: ${name}`,
      [{ label: name, colour: PALETTE[i % PALETTE.length], value: (p) => p.readings?.sensor?.[name] }], points, gap)));
    drawn.forEach((c) => c.resize(width));
    charts.replaceChildren(...drawn.map((c) => c.box));
    charts.dataset.points = points.length;
  }
  async function load() {
    const overview = await getJSON("/api/overview");
    const mine = overview.devices.find((t) => t.site === site && t.device === device);
    latest = mine ?? null;
    head.replaceChildren(...(mine ? headParts(mine) : [el("p", { class: "muted" }, "no state received yet")]));
    points = (await getJSON(`${base}/trend?hours=${range.value}`)).points;
    spacing = { count: 0, gap: Infinity };
    drawCharts();
    drawSnapshots();
  }
  range.addEventListener("change", load);
  load();
  const mineOnly = (handler) => (e) => { if (e.site === site && (e.device ?? e.tile?.device) === device) handler(e); };
  const offs = [
    on("device", (e) => {
      if (e.tile.site !== site || e.tile.device !== device) return;
      const learnedBefore = calibrated(latest?.modalities);
      latest = e.tile;
      head.replaceChildren(...headParts(e.tile));
      if (calibrated(e.tile.modalities) !== learnedBefore) drawCharts();  // it has just learned
    }),
    on("point", mineOnly((e) => {
      const known = sensorNames(points).join();
      points.push(e.point);
      const cutoff = Date.now() / 1000 - Number(range.value) * 3600;
      while (points.length && points[0].at < cutoff) points.shift();
      if (sensorNames(points).join() !== known) drawCharts();
      else drawn.forEach((c) => c.redraw());
      charts.dataset.points = points.length;
    })),
    on("snapshot", mineOnly((e) => {
      const fig = snaps.querySelector(`figure[data-kind="${CSS.escape(e.kind)}"]`);
      if (fig) fig.replaceWith(snapshot(e.kind));
    })),
    on("reconnected", load),
  ];
  return () => offs.forEach((off) => off());
}
