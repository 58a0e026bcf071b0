// The virtual clock: the broker core's only time source in the tab. It
// moves only when the page says so (play at 1×/10×/100×, step, or a test's
// advance()), so TTLs, x-expires and consumer timeouts follow it, and so do
// the playground's producers and consumers (their timers are virtual too).

export class VirtualClock {
  constructor({ start = 0 } = {}) {
    this.now = start;
    this.rate = 1;
    this.playing = false;
    this.timers = []; // { at, seq, fn }
    this.seq = 0;
    this.listeners = new Set();
  }

  /** Runs fn when the virtual clock reaches now + ms. Returns a handle. */
  setTimeout(fn, ms) {
    const t = { at: this.now + Math.max(0, ms), seq: ++this.seq, fn };
    this.timers.push(t);
    this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    return t;
  }

  clearTimeout(t) {
    const i = this.timers.indexOf(t);
    if (i >= 0) this.timers.splice(i, 1);
  }

  clear() { this.timers = []; }

  nextTimer() { return this.timers.length ? this.timers[0].at : Infinity; }

  /** Pops the next timer due at or before `until`, moving `now` to it. */
  takeDue(until) {
    if (!this.timers.length || this.timers[0].at > until) return null;
    const t = this.timers.shift();
    this.now = Math.max(this.now, t.at);
    return t;
  }

  onChange(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  changed() { for (const fn of this.listeners) fn(this); }
}
