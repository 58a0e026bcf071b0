// The topology graph: exchanges → (exchanges →) queues, edges labelled with
// binding keys, drawn in SVG and redrawn when bindings change. The layout
// is layered: exchanges by the length of the exchange-to-exchange chain
// that feeds them, queues last; rows ordered to keep edges short.

import { h, s, replace, select } from '../dom.js';
import { num, exchangeName } from '../format.js';
import { href } from '../router.js';
import { list } from '../resources.js';

const NODE_W = 210;
const NODE_H = 30;
const GAP_Y = 14;
const COL_W = 360;
const MARGIN = 16;

function clip(text, n = 30) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

function bindingLabel(b) {
  const a = Object.entries(b.arguments || {}).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`);
  return [b.routing_key, ...a].filter((x) => x !== '' && x !== undefined).join(' ');
}

/** Nodes with {id, kind, name, col, row} and merged edges, for one vhost. */
export function layout({ exchanges, queues, bindings }, { vhost, showDefault = false, showUnused = false }) {
  const id = (kind, name) => `${kind}\u0000${name}`;
  const xs = exchanges.filter((x) => x.vhost === vhost && (showDefault || x.name !== ''));
  const qs = queues.filter((q) => q.vhost === vhost);
  const known = new Set([...xs.map((x) => id('exchange', x.name)), ...qs.map((q) => id('queue', q.name))]);
  const merged = new Map();
  for (const b of bindings) {
    if (b.vhost !== vhost) continue;
    const from = id('exchange', b.source);
    const to = id(b.destination_type === 'exchange' ? 'exchange' : 'queue', b.destination);
    if (!known.has(from) || !known.has(to)) continue;
    const k = `${from}\u0001${to}`;
    if (!merged.has(k)) merged.set(k, { from, to, source: b.source, destination: b.destination, destinationType: b.destination_type, labels: [] });
    const label = bindingLabel(b);
    if (label) merged.get(k).labels.push(label);
  }
  const edges = [...merged.values()];
  const used = new Set(edges.flatMap((e) => [e.from, e.to]));
  const nodes = new Map();
  for (const x of xs) {
    if (!showUnused && x.name.startsWith('amq.') && !used.has(id('exchange', x.name))) continue;
    nodes.set(id('exchange', x.name), { id: id('exchange', x.name), kind: 'exchange', name: x.name, type: x.type, col: 0 });
  }
  for (const q of qs) nodes.set(id('queue', q.name), { id: id('queue', q.name), kind: 'queue', name: q.name, messages: q.messages ?? 0 });
  const live = edges.filter((e) => nodes.has(e.from) && nodes.has(e.to));
  // Exchange columns: longest e2e chain feeding each (bounded: cycles stop).
  const xnodes = [...nodes.values()].filter((n) => n.kind === 'exchange');
  for (let i = 0; i < xnodes.length; i += 1) {
    let changed = false;
    for (const e of live) {
      const to = nodes.get(e.to);
      if (to.kind === 'exchange' && to.col < nodes.get(e.from).col + 1 && to.col < xnodes.length) {
        to.col = nodes.get(e.from).col + 1;
        changed = true;
      }
    }
    if (!changed) break;
  }
  const qcol = xnodes.length ? Math.max(...xnodes.map((n) => n.col)) + 1 : 0;
  for (const n of nodes.values()) if (n.kind === 'queue') n.col = qcol;
  // Rows: column 0 by name, later columns by the mean row of their sources.
  const cols = [];
  for (const n of nodes.values()) (cols[n.col] ||= []).push(n);
  cols.forEach((col, c) => {
    const key = (n) => {
      if (c === 0) return 0;
      const src = live.filter((e) => e.to === n.id).map((e) => nodes.get(e.from)).filter((m) => m.col < c && m.row !== undefined);
      return src.length ? src.reduce((a, m) => a + m.row, 0) / src.length : Infinity;
    };
    col.sort((a, b) => key(a) - key(b) || a.name.localeCompare(b.name));
    col.forEach((n, row) => { n.row = row; });
  });
  return { nodes: [...nodes.values()], edges: live, columns: cols.length };
}

const LABEL_H = 14;
const LABEL_CHARS = 22;

/**
 * Node positions. Each node gets a slot tall enough to stack the labels of
 * the edges that enter it; slots stack per column.
 */
function place(graph) {
  const incoming = new Map(graph.nodes.map((n) => [n.id, 0]));
  for (const e of graph.edges) if (e.labels.length) incoming.set(e.to, incoming.get(e.to) + 1);
  const at = new Map();
  const next = [];
  for (const n of [...graph.nodes].sort((a, b) => a.col - b.col || a.row - b.row)) {
    const slot = Math.max(NODE_H + GAP_Y, incoming.get(n.id) * LABEL_H + GAP_Y + 6);
    const top = next[n.col] ?? MARGIN;
    at.set(n.id, { x: MARGIN + n.col * COL_W, y: top + (slot - NODE_H) / 2 });
    next[n.col] = top + slot;
  }
  return { at, height: Math.max(MARGIN, ...next.filter((v) => v !== undefined)) + MARGIN };
}

function draw(graph, vhost) {
  const { at, height } = place(graph);
  const width = MARGIN * 2 + Math.max(0, graph.columns - 1) * COL_W + NODE_W;
  const counts = new Map();
  // Edges end at the middle of a node's left side; their labels stack just
  // before it, ordered like the edges' sources, on a layer above the nodes.
  const into = new Map();
  for (const e of graph.edges) (into.get(e.to) || into.set(e.to, []).get(e.to)).push(e);
  const labels = [];
  for (const [to, list] of into) {
    const withLabel = list.filter((e) => e.labels.length).sort((a, b) => at.get(a.from).y - at.get(b.from).y);
    const b = at.get(to);
    withLabel.forEach((e, k) => {
      const text = e.labels.join(', ');
      const y = b.y + NODE_H / 2 + (k - (withLabel.length - 1) / 2) * LABEL_H + 4;
      labels.push(s('text', {
        class: 'edge-label', x: b.x - 12, y, 'text-anchor': 'end',
        dataset: { source: e.source, destination: e.destination, destinationType: e.destinationType },
      }, s('title', null, text), s('tspan', null, clip(text, LABEL_CHARS))));
    });
  }
  const edges = graph.edges.map((e) => {
    const a = at.get(e.from);
    const b = at.get(e.to);
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2;
    const dx = Math.max(40, (x2 - x1) / 2);
    const label = e.labels.join(', ');
    return s('g', { class: 'edge', dataset: { source: e.source, destination: e.destination, destinationType: e.destinationType } },
      s('title', null, `${exchangeName(e.source)} → ${e.destination}${label ? `: ${label}` : ''}`),
      s('path', { d: `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`, 'marker-end': 'url(#arrow)' }));
  });
  const nodes = graph.nodes.map((n) => {
    const p = at.get(n.id);
    const label = n.kind === 'exchange' ? exchangeName(n.name) : n.name;
    const count = n.kind === 'queue' ? s('text', { class: 'count', x: p.x + NODE_W - 8, y: p.y + 19, 'text-anchor': 'end' }, num(n.messages)) : null;
    if (count) counts.set(n.id, count);
    return s('a', { href: href(n.kind === 'exchange' ? 'exchanges' : 'queues', vhost, n.name), class: `node node-${n.kind}`, dataset: { kind: n.kind, name: n.name } },
      s('title', null, `${n.kind} ${label}${n.type ? ` (${n.type})` : ''}`),
      s('rect', { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: n.kind === 'exchange' ? 4 : 14 }),
      s('text', { x: p.x + 10, y: p.y + 19 }, clip(label, n.kind === 'queue' ? 22 : 26)),
      n.type ? s('text', { class: 'type', x: p.x + NODE_W - 8, y: p.y + 19, 'text-anchor': 'end' }, n.type) : null,
      count);
  });
  const svg = s('svg', { class: 'topology-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `Topology of virtual host ${vhost}` },
    s('defs', null, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z' }))),
    s('g', { class: 'edges' }, edges), s('g', { class: 'nodes' }, nodes), s('g', { class: 'labels' }, labels));
  return { svg, counts };
}

export function mount(ctx) {
  const untrack = ['exchanges', 'queues', 'bindings'].map((k) => ctx.store.track(...list(k)));
  let vhost = ctx.currentVhost() ?? '/';
  const vhostPick = h('span');
  const showDefault = h('input', { type: 'checkbox', onchange: () => render(true) });
  const showUnused = h('input', { type: 'checkbox', onchange: () => render(true) });
  const canvas = h('div', { class: 'topology-canvas' });
  const summary = h('p', { class: 'muted' });
  let signature = '';
  let counts = new Map();
  let store = ctx.store;

  function render(force) {
    const data = ['exchanges', 'queues', 'bindings'].map((k) => store.data(k));
    if (!data.every(Array.isArray)) return;
    const [exchanges, queues, bindings] = data;
    const graph = layout({ exchanges, queues, bindings }, { vhost, showDefault: showDefault.checked, showUnused: showUnused.checked });
    const sig = JSON.stringify([vhost, graph.nodes.map((n) => [n.id, n.col, n.row]), graph.edges.map((e) => [e.from, e.to, e.labels])]);
    if (force || sig !== signature) {
      signature = sig;
      const d = draw(graph, vhost);
      counts = d.counts;
      replace(canvas, graph.nodes.length ? d.svg : h('p', { class: 'muted' }, 'No exchanges or queues in this virtual host.'));
    } else {
      for (const n of graph.nodes) if (counts.has(n.id)) counts.get(n.id).textContent = num(n.messages);
    }
    summary.textContent = `${graph.nodes.filter((n) => n.kind === 'exchange').length} exchanges, ${graph.nodes.filter((n) => n.kind === 'queue').length} queues, ${graph.edges.length} edges`;
  }

  const el = h('section', { class: 'view topology' },
    h('h2', null, 'Topology'),
    h('div', { class: 'toolbar' }, vhostPick,
      h('label', null, showDefault, ' default exchange'),
      h('label', null, showUnused, ' unused amq.* exchanges'), summary),
    canvas);

  return {
    el,
    update(st) {
      store = st;
      const names = ctx.vhosts();
      if (!names.includes(vhost) && names.length) vhost = names[0];
      if (vhostPick.dataset.names !== names.join('\u0000')) {
        vhostPick.dataset.names = names.join('\u0000');
        replace(vhostPick, h('label', null, 'Virtual host ', select({ onchange: (e) => { vhost = e.target.value; render(true); } }, names, vhost)));
      }
      render(false);
    },
    destroy() {
      untrack.forEach((u) => u());
    },
  };
}
