// The canvas: an SVG drawing of the scenario — producers, exchanges,
// queues, consumers and the links between them — with drag to move, drag
// from a node's port to connect, click to select, and messages that move
// along the route the core reported (trace events). Views only: it reads
// the scenario and snapshots and calls back; it never talks to a broker.

import { s as svgEl } from '../dom.js';
import { bindingLabel } from './model.js';

const W = { producer: 130, exchange: 130, queue: 150, consumer: 140 };
const H = 46;
const COLUMN = { producer: 90, exchange: 320, queue: 560, consumer: 800 };

const text = (s, attrs) => svgEl('text', attrs, String(s));
const short = (s) => (s.length > 22 ? s.slice(0, 21) + '…' : s);

export class Canvas {
  constructor(root, { onSelect, onConnect, onMove, onMessage }) {
    this.root = root;
    this.cb = { onSelect, onConnect, onMove, onMessage };
    this.svg = svgEl('svg', { class: 'pg-canvas', viewBox: '0 0 920 520', role: 'img', 'aria-label': 'topology' });
    this.defs = svgEl('defs', {},
      svgEl('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, svgEl('path', { d: 'M0,0 L10,5 L0,10 z', class: 'pg-arrowhead' })));
    this.edgeLayer = svgEl('g', { class: 'pg-edges' });
    this.nodeLayer = svgEl('g', { class: 'pg-nodes' });
    this.dotLayer = svgEl('g', { class: 'pg-dots' });
    this.dragLine = svgEl('line', { class: 'pg-dragline', visibility: 'hidden' });
    this.svg.append(this.defs, this.edgeLayer, this.nodeLayer, this.dotLayer, this.dragLine);
    root.replaceChildren(this.svg);
    this.dots = [];
    this.selected = null;
    this.snapshot = null;
    this.positions = new Map();
    this.svg.addEventListener('pointermove', (e) => this.pointerMove(e));
    this.svg.addEventListener('pointerup', (e) => this.pointerUp(e));
    this.svg.addEventListener('click', (e) => { if (e.target === this.svg) this.cb.onSelect?.(null); });
    const frame = (t) => { this.animate(t); this.raf = requestAnimationFrame(frame); };
    this.raf = requestAnimationFrame(frame);
  }

  point(evt) {
    const p = this.svg.createSVGPoint();
    p.x = evt.clientX; p.y = evt.clientY;
    return p.matrixTransform(this.svg.getScreenCTM().inverse());
  }

  /** Node ids: `exchange:name`, `queue:name`, `producer:name`, `consumer:name`. */
  layout(s) {
    const pos = new Map();
    const place = (kind, list) => list.forEach((n, i) => {
      pos.set(`${kind}:${n.name}`, { x: n.x ?? COLUMN[kind], y: n.y ?? 60 + i * 80, kind, node: n });
    });
    place('producer', s.producers);
    place('exchange', s.exchanges);
    place('queue', s.queues);
    place('consumer', s.consumers);
    this.positions = pos;
    return pos;
  }

  render(s, snapshot) {
    this.scenario = s;
    if (snapshot) this.snapshot = snapshot;
    const pos = this.layout(s);
    const maxY = Math.max(520, ...[...pos.values()].map((p) => p.y + 60));
    this.svg.setAttribute('viewBox', `0 0 920 ${maxY}`);
    const xType = new Map(s.exchanges.map((x) => [x.name, x.type]));
    const edges = [];
    const centre = (id) => pos.get(id);
    const link = (from, to, label, cls, sel) => {
      const a = centre(from), b = centre(to);
      if (!a || !b) return;
      edges.push({ a, b, label, cls, sel });
    };
    for (const p of s.producers) {
      if (p.exchange === '') for (const k of new Set(p.routingKeys)) link(`producer:${p.name}`, `queue:${k}`, 'default exchange', 'pg-edge-publish', { kind: 'producer', name: p.name });
      else link(`producer:${p.name}`, `exchange:${p.exchange}`, short(p.routingKeys.join(', ')), 'pg-edge-publish', { kind: 'producer', name: p.name });
    }
    s.bindings.forEach((b, i) => link(`exchange:${b.source}`, `${b.destination_type}:${b.destination}`, bindingLabel(b, xType.get(b.source)), 'pg-edge-binding', { kind: 'binding', index: i }));
    for (const q of s.queues) {
      const dlx = q.arguments?.['x-dead-letter-exchange'];
      if (dlx != null && dlx !== '') link(`queue:${q.name}`, `exchange:${dlx}`, 'dead letters', 'pg-edge-dlx', { kind: 'queue', name: q.name });
      else if (dlx === '' && q.arguments?.['x-dead-letter-routing-key']) link(`queue:${q.name}`, `queue:${q.arguments['x-dead-letter-routing-key']}`, 'dead letters', 'pg-edge-dlx', { kind: 'queue', name: q.name });
    }
    for (const x of s.exchanges) {
      const ae = x.arguments?.['alternate-exchange'];
      if (ae) link(`exchange:${x.name}`, `exchange:${ae}`, 'alternate', 'pg-edge-dlx', { kind: 'exchange', name: x.name });
    }
    for (const c of s.consumers) link(`queue:${c.queue}`, `consumer:${c.name}`, c.ack === 'manual' ? `prefetch ${c.prefetch}` : 'auto-ack', 'pg-edge-consume', { kind: 'consumer', name: c.name });

    // Edges (labels offset when several share a pair).
    const seen = new Map();
    this.edgeLayer.replaceChildren(...edges.map((e) => {
      const key = [e.a.x, e.a.y, e.b.x, e.b.y].join();
      const nth = seen.get(key) || 0;
      seen.set(key, nth + 1);
      const [x1, y1] = this.port(e.a, 'out');
      const [x2, y2] = this.port(e.b, 'in');
      const back = x2 < x1;
      const d = back
        ? `M${x1},${y1} C${x1 + 60},${y1 + 80} ${x2 - 60},${y2 + 80} ${x2},${y2}`
        : `M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}`;
      const g = svgEl('g', { class: `pg-edge ${e.cls}`, 'data-edge': JSON.stringify(e.sel) });
      g.append(svgEl('path', { d, 'marker-end': 'url(#arrow)' }), svgEl('path', { d, class: 'pg-edge-hit' }));
      if (e.label) {
        const lx = (x1 + x2) / 2, ly = (y1 + y2) / 2 - 6 + nth * 14 + (back ? 60 : 0);
        g.append(text(e.label, { x: lx, y: ly, class: 'pg-edge-label', 'text-anchor': 'middle' }));
      }
      g.addEventListener('click', (ev) => { ev.stopPropagation(); this.cb.onSelect?.(e.sel); });
      return g;
    }));

    // Nodes.
    const qInfo = new Map((this.snapshot?.queues || []).map((q) => [q.name, q]));
    const cInfo = new Map((this.snapshot?.consumers || []).map((c) => [c.consumer_tag, c]));
    this.nodeLayer.replaceChildren(...[...pos.entries()].map(([id, p]) => this.node(id, p, qInfo, cInfo)));
  }

  port(p, side) {
    const w = W[p.kind];
    return side === 'out' ? [p.x + w / 2, p.y] : [p.x - w / 2, p.y];
  }

  node(id, p, qInfo, cInfo) {
    const n = p.node;
    const w = W[p.kind];
    const sel = this.selected && this.selected.kind === p.kind && this.selected.name === n.name;
    const g = svgEl('g', { class: `pg-node pg-${p.kind}${sel ? ' pg-selected' : ''}`, transform: `translate(${p.x},${p.y})`, 'data-node': id, tabindex: 0 });
    let sub = '';
    if (p.kind === 'exchange') {
      g.append(svgEl('polygon', { points: `${-w / 2},0 ${-w / 2 + 14},${-H / 2} ${w / 2 - 14},${-H / 2} ${w / 2},0 ${w / 2 - 14},${H / 2} ${-w / 2 + 14},${H / 2}` }));
      sub = n.type + (n.arguments?.['alternate-exchange'] ? ' · AE' : '');
    } else {
      g.append(svgEl('rect', { x: -w / 2, y: -H / 2, width: w, height: H, rx: p.kind === 'queue' ? 3 : 12 }));
    }
    if (p.kind === 'queue') {
      const q = qInfo.get(n.name);
      const ready = q?.messages_ready ?? 0, unacked = q?.messages_unacknowledged ?? 0;
      const frac = Math.min(1, (ready + unacked) / 20);
      g.append(svgEl('rect', { x: -w / 2, y: H / 2 - 6, width: w * frac, height: 6, class: 'pg-depth' }));
      const a = n.arguments || {};
      const tags = [];
      if (a['x-message-ttl'] != null) tags.push(`ttl ${a['x-message-ttl']}ms`);
      if (a['x-max-length'] != null) tags.push(`max ${a['x-max-length']}`);
      if (a['x-max-priority'] != null) tags.push(`prio ${a['x-max-priority']}`);
      if (a['x-single-active-consumer']) tags.push('SAC');
      if (a['x-dead-letter-exchange'] != null) tags.push('DLX');
      sub = `${ready} ready · ${unacked} unacked${tags.length ? ' · ' + tags.join(' ') : ''}`;
      g.dataset.ready = ready;
    }
    if (p.kind === 'consumer') {
      const c = cInfo.get(n.name);
      sub = `${n.ack === 'manual' ? `${n.processingMs}ms · ${n.action}` : 'auto-ack'}${c && !c.active ? ' · waiting' : ''}`;
      if (c && !c.active) g.classList.add('pg-inactive');
    }
    if (p.kind === 'producer') sub = n.rate > 0 ? `${n.rate}/s${n.count ? ` ×${n.count}` : ''}` : 'manual';
    g.append(text(n.name || '(default)', { y: -4, 'text-anchor': 'middle', class: 'pg-node-name' }));
    g.append(text(sub, { y: 12, 'text-anchor': 'middle', class: 'pg-node-sub' }));
    if (p.kind !== 'consumer') {
      const port = svgEl('circle', { cx: w / 2, cy: 0, r: 6, class: 'pg-port' });
      port.addEventListener('pointerdown', (e) => { e.stopPropagation(); this.startConnect(id, p, e); });
      g.append(port);
    }
    g.addEventListener('pointerdown', (e) => this.startDrag(id, p, e));
    g.addEventListener('click', (e) => { e.stopPropagation(); this.cb.onSelect?.({ kind: p.kind, name: n.name }); });
    return g;
  }

  startDrag(id, p, e) {
    const at = this.point(e);
    this.drag = { mode: 'move', id, p, dx: at.x - p.x, dy: at.y - p.y, moved: false };
  }

  startConnect(id, p, e) {
    const [x, y] = this.port(p, 'out');
    this.drag = { mode: 'connect', id, p };
    Object.entries({ x1: x, y1: y, x2: x, y2: y }).forEach(([k, v]) => this.dragLine.setAttribute(k, v));
    this.dragLine.setAttribute('visibility', 'visible');
    this.svg.setPointerCapture?.(e.pointerId);
  }

  pointerMove(e) {
    if (!this.drag) return;
    const at = this.point(e);
    if (this.drag.mode === 'move') {
      const { p } = this.drag;
      p.node.x = Math.round(at.x - this.drag.dx);
      p.node.y = Math.round(at.y - this.drag.dy);
      this.drag.moved = true;
      this.render(this.scenario);
    } else {
      this.dragLine.setAttribute('x2', at.x);
      this.dragLine.setAttribute('y2', at.y);
    }
  }

  pointerUp(e) {
    const d = this.drag;
    this.drag = null;
    if (!d) return;
    if (d.mode === 'move') { if (d.moved) this.cb.onMove?.(); return; }
    this.dragLine.setAttribute('visibility', 'hidden');
    const at = this.point(e);
    for (const [id, p] of this.positions) {
      if (id === d.id) continue;
      if (Math.abs(at.x - p.x) <= W[p.kind] / 2 && Math.abs(at.y - p.y) <= H / 2) {
        this.cb.onConnect?.(d.id, id);
        return;
      }
    }
  }

  // --- messages -----------------------------------------------------------

  /** A message moving from node `from` to node `to` (ids as in layout). */
  fly(message, from, to, { cls = '', linger = false } = {}) {
    const a = this.positions.get(from), b = this.positions.get(to);
    if (!a || !b) return;
    if (this.dots.length > 150) this.dots.shift().el.remove();
    const [x1, y1] = this.port(a, 'out');
    const [x2, y2] = this.port(b, 'in');
    const c = svgEl('circle', { r: 6, class: `pg-msg ${cls}`, cx: x1, cy: y1, 'data-message': message });
    c.addEventListener('click', (e) => { e.stopPropagation(); this.cb.onMessage?.(message); });
    c.append(svgEl('title', {}, `message ${message}`));
    this.dotLayer.append(c);
    this.dots.push({ el: c, x1, y1, x2, y2, t0: performance.now(), dur: 700, linger, message });
  }

  /** Removes a lingering dot (its message was acked or rejected). */
  settle(message, cls) {
    for (const d of this.dots) {
      if (d.message === message && d.linger) {
        d.linger = false;
        d.fadeAt = performance.now() + 300;
        if (cls) d.el.classList.add(cls);
      }
    }
  }

  flash(nodeId, cls = 'pg-flash') {
    const g = this.nodeLayer.querySelector(`[data-node="${CSS.escape(nodeId)}"]`);
    if (!g) return;
    g.classList.add(cls);
    setTimeout(() => g.classList.remove(cls), 400);
  }

  animate(now) {
    const keep = [];
    for (const d of this.dots) {
      const t = Math.min(1, (now - d.t0) / d.dur);
      const e = t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2;
      d.el.setAttribute('cx', d.x1 + (d.x2 - d.x1) * e);
      d.el.setAttribute('cy', d.y1 + (d.y2 - d.y1) * e);
      const gone = t >= 1 && !d.linger && (!d.fadeAt || now >= d.fadeAt) && (d.fadeAt || now - d.t0 > d.dur + 150);
      if (gone) d.el.remove(); else keep.push(d);
    }
    this.dots = keep;
  }

  select(sel) {
    this.selected = sel;
    if (this.scenario) this.render(this.scenario);
  }
}
