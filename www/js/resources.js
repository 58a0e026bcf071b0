// What the dashboard polls: store keys and their fetchers. Lists ask only
// for the fields the views read (`columns`, dotted paths as RabbitMQ's API
// takes them), which keeps big listings small.

const COLUMNS = {
  queues: ['vhost', 'name', 'type', 'state', 'arguments', 'durable', 'auto_delete', 'exclusive', 'policy',
    'messages', 'messages_ready', 'messages_unacknowledged', 'consumers',
    'message_stats.publish_details.rate', 'message_stats.deliver_get_details.rate', 'message_stats.ack_details.rate'],
  exchanges: ['vhost', 'name', 'type', 'durable', 'auto_delete', 'internal', 'arguments', 'policy',
    'message_stats.publish_in_details.rate', 'message_stats.publish_out_details.rate'],
  connections: ['name', 'vhost', 'user', 'client_properties.product', 'client_properties.version', 'protocol', 'state',
    'channels', 'recv_oct_details.rate', 'send_oct_details.rate', 'connected_at'],
  channels: ['name', 'vhost', 'user', 'confirm', 'transactional', 'state', 'consumer_count', 'prefetch_count',
    'messages_unacknowledged', 'message_stats.publish_details.rate', 'message_stats.deliver_get_details.rate',
    'message_stats.ack_details.rate'],
};

/** [key, fetch] for store.track(): every object of `kind`. */
export function list(kind) {
  return [kind, (source) => source.list(kind, undefined, COLUMNS[kind] ? { columns: COLUMNS[kind] } : undefined)];
}
