//! Declaring and deleting one run's exchange and queues over a blocking
//! connection. Both clients use it, so they load the same topology.

use std::io;

use broker_core::amqp::method::*;
use broker_core::amqp::Method;

use crate::load::{Load, Topology};
use crate::wire::SyncConn;

fn expect(reply: Method, want: &str) -> io::Result<()> {
    if reply.name() == want {
        Ok(())
    } else {
        Err(io::Error::other(format!("expected {want}, got {}", reply.name())))
    }
}

pub fn declare(conn: &mut SyncConn, load: &Load, topo: &Topology) -> io::Result<()> {
    let reply = conn.rpc(ExchangeDeclare {
        exchange: topo.exchange.as_str().into(),
        kind: load.exchange.as_str().into(),
        durable: load.persistent,
        ..Default::default()
    })?;
    expect(reply, "exchange.declare-ok")?;
    for (i, q) in topo.queues.iter().enumerate() {
        let reply = conn.rpc(QueueDeclare { queue: q.as_str().into(), durable: load.persistent, ..Default::default() })?;
        expect(reply, "queue.declare-ok")?;
        let reply = conn.rpc(QueueBind {
            queue: q.as_str().into(),
            exchange: topo.exchange.as_str().into(),
            routing_key: topo.binding_key(load.exchange, i).into(),
            ..Default::default()
        })?;
        expect(reply, "queue.bind-ok")?;
    }
    Ok(())
}

pub fn delete(conn: &mut SyncConn, topo: &Topology) -> io::Result<()> {
    for q in &topo.queues {
        let reply = conn.rpc(QueueDelete { queue: q.as_str().into(), ..Default::default() })?;
        expect(reply, "queue.delete-ok")?;
    }
    let reply = conn.rpc(ExchangeDelete { exchange: topo.exchange.as_str().into(), ..Default::default() })?;
    expect(reply, "exchange.delete-ok")
}
