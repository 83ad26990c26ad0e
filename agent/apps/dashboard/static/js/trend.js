// Trend points as uPlot's columns, broken where no point came for far longer than usual: an
// agent that was off draws as a gap, never as a slow ramp across the hours it was away. Inside
// a run, a value one point lacks (a sense that did not report) is spanned: uPlot skips
// `undefined` and breaks the line at `null`, so missing values become undefined and each gap
// gets one row of nulls.

export const GAP_FLOOR_S = 30;  // never a gap below this, however regular the points
export const GAP_FACTOR = 5;    // a gap: this many times the usual spacing (its median)

// Seconds between two points past which they are not joined (Infinity with fewer than 2).
export function gapThreshold(points) {
  const steps = [];
  for (let i = 1; i < points.length; i++) steps.push(points[i].at - points[i - 1].at);
  if (!steps.length) return Infinity;
  steps.sort((a, b) => a - b);
  return Math.max(GAP_FLOOR_S, GAP_FACTOR * steps[Math.floor(steps.length / 2)]);
}

// [times, ...one column per series]; `series` is [{value(point)}], `threshold` in seconds.
export function trendColumns(points, series, threshold) {
  const times = [];
  const values = series.map(() => []);
  points.forEach((p, i) => {
    const previous = points[i - 1];
    if (previous && p.at - previous.at > threshold) {
      times.push((previous.at + p.at) / 2);
      values.forEach((column) => column.push(null));
    }
    times.push(p.at);
    series.forEach((s, j) => values[j].push(s.value(p) ?? undefined));
  });
  return [times, ...values];
}

// uPlot's options for one line per series (`label`, `colour`, optional `dash`), gaps kept as gaps.
export function seriesOptions(series) {
  return [{}, ...series.map((s) => ({ label: s.label, stroke: s.colour, width: 2, spanGaps: false,
    ...(s.dash ? { dash: s.dash } : {}) }))];
}
