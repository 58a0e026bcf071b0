// Running the virtual clock: while playing, each animation frame advances
// it by the real time elapsed (at most 250 ms) times the speed; the step
// buttons pause and advance it by a fixed amount. One advance at a time
// (app.busy): the frame loop skips a frame while a step runs, a step waits.

import { $ } from '../dom.js';
import { refresh } from './status.js';

/** Starts the frame loop and wires Play/Pause, the speed and the step buttons. */
export function wireClock(app) {
  startFrameLoop(app);
  $('#pg-play').addEventListener('click', () => setPlaying(app, !app.playing));
  for (const b of document.querySelectorAll('[data-speed]')) {
    b.addEventListener('click', () => { app.speed = Number(b.dataset.speed); markSpeed(app); app.updateUrl(); });
  }
  for (const b of document.querySelectorAll('[data-step]')) {
    b.addEventListener('click', async () => { setPlaying(app, false); await advance(app, Number(b.dataset.step)); });
  }
}

function startFrameLoop(app) {
  let last = performance.now();
  async function frame(now) {
    const dt = Math.min(250, now - last);
    last = now;
    if (app.playing && !app.busy) {
      app.busy = true;
      try { await app.engine.driver.advanceTo(app.engine.clock.now + dt * app.speed); } finally { app.busy = false; }
    }
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
}

export function setPlaying(app, playing) {
  app.playing = playing;
  $('#pg-play').textContent = playing ? 'Pause' : 'Play';
  $('#pg-play').setAttribute('aria-pressed', String(playing));
}

/** Highlights the speed button of app.speed. */
export function markSpeed(app) {
  for (const b of document.querySelectorAll('[data-speed]')) b.classList.toggle('active', Number(b.dataset.speed) === app.speed);
}

/** Advances the virtual clock by `ms` once no other advance runs, then refreshes. */
export async function advance(app, ms) {
  while (app.busy) await new Promise((r) => setTimeout(r, 5));
  app.busy = true;
  try { await app.engine.advance(ms); } finally { app.busy = false; }
  refresh(app);
}
