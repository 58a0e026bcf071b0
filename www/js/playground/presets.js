// The presets: RabbitMQ's six tutorials and four patterns, as scenarios.

import { normalize } from './model.js';

const P = (o) => ({ rate: 1, ...o });
const C = (o) => ({ prefetch: 1, ack: 'manual', processingMs: 300, action: 'ack', ...o });

export const PRESETS = {
  hello: {
    title: 'Hello World (tutorial 1)',
    queues: [{ name: 'hello' }],
    producers: [P({ name: 'sender', exchange: '', routingKeys: ['hello'], body: 'Hello World!' })],
    consumers: [C({ name: 'receiver', queue: 'hello', ack: 'auto' })],
  },
  'work-queues': {
    title: 'Work queues (tutorial 2): fair dispatch with prefetch 1',
    queues: [{ name: 'task_queue', durable: true }],
    producers: [P({ name: 'new_task', exchange: '', routingKeys: ['task_queue'], rate: 2, body: 'task...' })],
    consumers: [C({ name: 'worker-fast', queue: 'task_queue', processingMs: 500 }), C({ name: 'worker-slow', queue: 'task_queue', processingMs: 2000 })],
  },
  pubsub: {
    title: 'Publish/Subscribe (tutorial 3): a fanout exchange',
    exchanges: [{ name: 'logs', type: 'fanout' }],
    queues: [{ name: 'logs.console' }, { name: 'logs.file' }],
    bindings: [{ source: 'logs', destination: 'logs.console' }, { source: 'logs', destination: 'logs.file' }],
    producers: [P({ name: 'emit_log', exchange: 'logs', routingKeys: [''], body: 'log line' })],
    consumers: [C({ name: 'console', queue: 'logs.console', ack: 'auto' }), C({ name: 'file', queue: 'logs.file', ack: 'auto' })],
  },
  routing: {
    title: 'Routing (tutorial 4): a direct exchange',
    exchanges: [{ name: 'direct_logs', type: 'direct' }],
    queues: [{ name: 'errors' }, { name: 'all' }],
    bindings: [
      { source: 'direct_logs', destination: 'errors', routing_key: 'error' },
      { source: 'direct_logs', destination: 'all', routing_key: 'info' },
      { source: 'direct_logs', destination: 'all', routing_key: 'warning' },
      { source: 'direct_logs', destination: 'all', routing_key: 'error' },
    ],
    producers: [P({ name: 'emit_log_direct', exchange: 'direct_logs', routingKeys: ['info', 'warning', 'error'], rate: 2 })],
    consumers: [C({ name: 'disk', queue: 'errors', ack: 'auto' }), C({ name: 'screen', queue: 'all', ack: 'auto' })],
  },
  topics: {
    title: 'Topics (tutorial 5): a topic exchange',
    exchanges: [{ name: 'topic_logs', type: 'topic' }],
    queues: [{ name: 'Q1' }, { name: 'Q2' }],
    bindings: [
      { source: 'topic_logs', destination: 'Q1', routing_key: '*.orange.*' },
      { source: 'topic_logs', destination: 'Q2', routing_key: '*.*.rabbit' },
      { source: 'topic_logs', destination: 'Q2', routing_key: 'lazy.#' },
    ],
    producers: [P({ name: 'emit_log_topic', exchange: 'topic_logs', rate: 2,
      routingKeys: ['quick.orange.rabbit', 'lazy.orange.elephant', 'quick.orange.fox', 'lazy.brown.fox', 'lazy.pink.rabbit', 'quick.brown.fox'] })],
    consumers: [C({ name: 'C1', queue: 'Q1', ack: 'auto' }), C({ name: 'C2', queue: 'Q2', ack: 'auto' })],
  },
  rpc: {
    title: 'RPC (tutorial 6): request queue, reply queue, correlation ids',
    queues: [{ name: 'rpc_queue' }, { name: 'rpc.replies' }],
    producers: [P({ name: 'rpc_client', exchange: '', routingKeys: ['rpc_queue'], replyTo: 'rpc.replies', body: 'fib(30)' })],
    consumers: [C({ name: 'rpc_server', queue: 'rpc_queue', processingMs: 400, reply: true }), C({ name: 'rpc_client.replies', queue: 'rpc.replies', ack: 'auto' })],
  },
  'retry-dlx-ttl': {
    title: 'Retry with DLX and TTL: rejected work waits 5 s in a TTL queue, then returns',
    exchanges: [{ name: 'work', type: 'direct' }, { name: 'retry', type: 'fanout' }],
    queues: [
      { name: 'work', arguments: { 'x-dead-letter-exchange': 'retry' } },
      { name: 'retry.wait', arguments: { 'x-message-ttl': 5000, 'x-dead-letter-exchange': 'work' } },
    ],
    bindings: [{ source: 'work', destination: 'work', routing_key: 'task' }, { source: 'retry', destination: 'retry.wait' }],
    producers: [P({ name: 'producer', exchange: 'work', routingKeys: ['task'], rate: 0.5, count: 3, body: 'flaky job' })],
    consumers: [C({ name: 'worker', queue: 'work', processingMs: 200, action: 'retry-once' })],
  },
  priority: {
    title: 'Priority queue: urgent messages overtake',
    queues: [{ name: 'jobs', arguments: { 'x-max-priority': 10 } }],
    producers: [
      P({ name: 'bulk', exchange: '', routingKeys: ['jobs'], rate: 4, priority: 1, body: 'bulk' }),
      P({ name: 'urgent', exchange: '', routingKeys: ['jobs'], rate: 0.5, priority: 9, body: 'urgent' }),
    ],
    consumers: [C({ name: 'slow worker', queue: 'jobs', processingMs: 1000 })],
  },
  sac: {
    title: 'Single active consumer: one consumer at a time, the other waits',
    queues: [{ name: 'orders', arguments: { 'x-single-active-consumer': true } }],
    producers: [P({ name: 'shop', exchange: '', routingKeys: ['orders'], rate: 2 })],
    consumers: [C({ name: 'primary', queue: 'orders' }), C({ name: 'standby', queue: 'orders' })],
  },
  'alternate-exchange': {
    title: 'Alternate exchange: unroutable messages are caught, not lost',
    exchanges: [{ name: 'main', type: 'direct', arguments: { 'alternate-exchange': 'unrouted' } }, { name: 'unrouted', type: 'fanout' }],
    queues: [{ name: 'orders' }, { name: 'unrouted' }],
    bindings: [{ source: 'main', destination: 'orders', routing_key: 'order' }, { source: 'unrouted', destination: 'unrouted' }],
    producers: [P({ name: 'app', exchange: 'main', routingKeys: ['order', 'typo'], rate: 2 })],
    consumers: [C({ name: 'orders', queue: 'orders', ack: 'auto' }), C({ name: 'ops', queue: 'unrouted', ack: 'auto' })],
  },
};

export function preset(name) {
  const p = PRESETS[name];
  return p ? normalize({ ...p, preset: name }) : null;
}
