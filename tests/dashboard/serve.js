// Development: serve www/ with /api/ proxied to a broker, e.g.
//   WARREN_HTTP_URL=http://127.0.0.1:15672 PORT=8080 node serve.js
import { serveWww, WWW } from './warren.js';

const target = new URL(process.env.WARREN_HTTP_URL || 'http://127.0.0.1:15672');
const site = await serveWww(WWW, target);
console.log(`dashboard on ${site.url}, API from ${target.origin}`);
