// AMQP 0-9-1 facts the dashboard and the playground both offer in forms.

/**
 * The exchange types Warren implements, in the order of the management
 * API's `exchange_types` (gateway/src/http/api/overview.rs). The dashboard
 * falls back to it when the overview has none; the playground's edit form
 * always uses it.
 */
export const EXCHANGE_TYPES = ['direct', 'fanout', 'headers', 'topic'];
