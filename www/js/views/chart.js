// A live line chart of message rates in SVG (no library). The data comes
// from a RateHistory (rates.js); update() redraws from it.

import { h, s, replace } from '../dom.js';
import { rate } from '../format.js';

const W = 720;
const H = 190;
const PAD = { l: 44, r: 8, t: 10, b: 20 };

/** 1, 2, 5 × 10^n at or above `v` (at least 1). */
export function niceMax(v) {
  if (!(v > 1)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export class RateChart {
  /** `series`: [{key, label}], `windowMs`: the time span shown. */
  constructor({ series, title = 'Message rates', windowMs = 180000 }) {
    this.series = series;
    this.windowMs = windowMs;
    this.grid = s('g', { class: 'grid' });
    this.lines = new Map(series.map((x) => [x.key, s('polyline', {
      class: `series series-${x.key}`, dataset: { series: x.key }, points: '', fill: 'none',
    })]));
    this.values = new Map(series.map((x) => [x.key, h('span', { class: 'value' }, '0/s')]));
    this.svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-label': title },
      this.grid, [...this.lines.values()]);
    this.el = h('figure', { class: 'chart', dataset: { chart: 'rates' } },
      h('figcaption', null, title),
      this.svg,
      h('ul', { class: 'legend' }, series.map((x) => h('li', { dataset: { series: x.key } },
        h('span', { class: `swatch series-${x.key}` }), x.label, ' ', this.values.get(x.key)))));
  }

  update(history) {
    let newest = 0;
    let max = 0;
    for (const { key } of this.series) {
      const pts = history.series(key);
      if (pts.length) newest = Math.max(newest, pts[pts.length - 1].t);
      for (const p of pts) max = Math.max(max, p.v);
    }
    const top = niceMax(max);
    const iw = W - PAD.l - PAD.r;
    const ih = H - PAD.t - PAD.b;
    const x = (t) => PAD.l + iw - ((newest - t) / this.windowMs) * iw;
    const y = (v) => PAD.t + ih - (v / top) * ih;
    replace(this.grid, [0, 0.5, 1].map((f) => [
      s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(top * f), y2: y(top * f) }),
      s('text', { x: PAD.l - 6, y: y(top * f) + 4, 'text-anchor': 'end' }, rate(top * f)),
    ]), s('text', { x: PAD.l, y: H - 4 }, `−${Math.round(this.windowMs / 1000)} s`),
    s('text', { x: W - PAD.r, y: H - 4, 'text-anchor': 'end' }, 'now'));
    for (const { key } of this.series) {
      const pts = history.series(key).filter((p) => newest - p.t <= this.windowMs);
      this.lines.get(key).setAttribute('points', pts.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '));
      this.values.get(key).textContent = rate(history.latest(key));
    }
    this.svg.dataset.max = String(max);
  }
}
