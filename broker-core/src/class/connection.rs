//! The connection class: the handshake (start, tune, open), close in both
//! directions, and update-secret.

use bytes::Bytes;

use crate::amqp::method::*;
use crate::amqp::{FieldTable, FieldValue, Method, FRAME_MIN_SIZE};
use crate::auth::{parse_response, MECHANISMS};
use crate::broker::{lifecycle, Ctx, Timer};
use crate::connection::{ClientCapabilities, ConnState};
use crate::error::{AmqpError, Result};

fn server_properties(ctx: &Ctx) -> FieldTable {
    let caps = [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "consumer_priorities",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ];
    let mut capabilities = FieldTable::new();
    for c in caps {
        capabilities.insert(c, FieldValue::Bool(true));
    }
    FieldTable::from([
        ("capabilities", FieldValue::Table(capabilities)),
        ("cluster_name", FieldValue::str(&ctx.config.cluster_name)),
        ("copyright", FieldValue::str("Copyright (c) the Warren authors")),
        ("information", FieldValue::str("Warren: an AMQP 0-9-1 broker; see README.md")),
        ("platform", FieldValue::str("Rust")),
        ("product", FieldValue::str("Warren")),
        ("version", FieldValue::str(env!("CARGO_PKG_VERSION"))),
    ])
}

/// The client sent a good protocol header: offer connection.start.
pub(crate) fn send_start(ctx: &mut Ctx) {
    let start = ConnectionStart {
        version_major: 0,
        version_minor: 9,
        server_properties: server_properties(ctx),
        // EXTERNAL (the TLS client certificate's identity) first when there is one.
        mechanisms: match ctx.conn.certificate_user {
            Some(_) => Bytes::from(format!("EXTERNAL {MECHANISMS}")),
            None => Bytes::from_static(MECHANISMS.as_bytes()),
        },
        locales: Bytes::from_static(b"en_US"),
    };
    ctx.conn.send_method(0, &start.into());
    ctx.conn.state = ConnState::AwaitingStartOk;
}

/// A method on channel 0.
pub(crate) fn handle(ctx: &mut Ctx, method: Method) -> Result<()> {
    let ids = method.ids();
    match (ctx.conn.state, method) {
        (_, Method::ConnectionClose(_)) => {
            lifecycle::close_ok(ctx.state, ctx.conn, "closed by client");
            Ok(())
        }
        (ConnState::AwaitingStartOk, Method::ConnectionStartOk(m)) => start_ok(ctx, m),
        (ConnState::AwaitingTuneOk, Method::ConnectionTuneOk(m)) => tune_ok(ctx, m),
        (ConnState::AwaitingOpen, Method::ConnectionOpen(m)) => open(ctx, m),
        (ConnState::Open, Method::ConnectionUpdateSecret(_)) => {
            ctx.conn.send_method(0, &ConnectionUpdateSecretOk {}.into());
            Ok(())
        }
        // Flow notifications are server-to-client; a client echoing them is harmless.
        (ConnState::Open, Method::ConnectionBlocked(_) | Method::ConnectionUnblocked(_)) => Ok(()),
        (ConnState::Open, m) => Err(AmqpError::command_invalid(format_args!("'{}' is not allowed on channel 0", m.name())).on(ids)),
        (state, m) => {
            Err(AmqpError::command_invalid(format_args!("'{}' is not expected during the handshake ({state:?})", m.name())).on(ids))
        }
    }
}

fn start_ok(ctx: &mut Ctx, m: ConnectionStartOk) -> Result<()> {
    ctx.conn.capabilities = ClientCapabilities::from_properties(&m.client_properties);
    ctx.conn.client_properties = m.client_properties;
    ctx.conn.mechanism = m.mechanism.clone();
    if &*m.mechanism == "EXTERNAL" && ctx.conn.certificate_user.is_some() {
        // The identity comes from the TLS layer; the user must exist.
        let user = ctx.conn.certificate_user.clone().filter(|u| ctx.state.access.users.contains_key(u));
        let Some(user) = user else { return refuse_login(ctx, "EXTERNAL") };
        ctx.conn.user = user;
        return send_tune(ctx);
    }
    if !MECHANISMS.split(' ').any(|x| x == &*m.mechanism) {
        let err = AmqpError::command_invalid(format_args!("unknown authentication mechanism '{}'", m.mechanism));
        return drop_handshake(ctx, err.on((10, 11)));
    }
    let user = parse_response(&m.mechanism, &m.response).and_then(|cred| {
        let user = ctx.state.access.users.get(&cred.username)?;
        let ok = user.check_password(&cred.password) && (!user.loopback_only || ctx.conn.peer.loopback);
        ok.then(|| user.name.clone())
    });
    let Some(user) = user else {
        return refuse_login(ctx, &m.mechanism);
    };
    ctx.conn.user = user;
    send_tune(ctx)
}

fn send_tune(ctx: &mut Ctx) -> Result<()> {
    let tune = ConnectionTune { channel_max: ctx.config.channel_max, frame_max: ctx.config.frame_max, heartbeat: ctx.config.heartbeat };
    ctx.conn.send_method(0, &tune.into());
    ctx.conn.state = ConnState::AwaitingTuneOk;
    Ok(())
}

/// A failed login: clients that announced `authentication_failure_close`
/// get a connection.close with 403; others are just disconnected, as
/// RabbitMQ does (older clients cannot read a close at this stage).
/// As RabbitMQ 3.10 does: a client that announced
/// `authentication_failure_close` gets the 403 connection.close at once;
/// any other is dropped silently after `login_failure_delay_ms` (input is
/// ignored meanwhile), which slows password guessing.
fn refuse_login(ctx: &mut Ctx, mechanism: &str) -> Result<()> {
    let err = AmqpError::access_refused(format_args!(
        "Login was refused using authentication mechanism {mechanism}. For details see the broker logfile."
    ))
    .on((10, 11));
    if ctx.conn.capabilities.authentication_failure_close {
        return Err(err);
    }
    ctx.conn.close_reason = err.text;
    ctx.conn.state = ConnState::Refusing;
    ctx.state.clock.schedule(ctx.now + ctx.config.login_failure_delay_ms, Timer::LoginRefused(ctx.conn.id));
    Ok(())
}

/// A peer that breaks the handshake's rules is dropped without a
/// connection.close: the spec says the server "MUST close the socket" for an
/// unknown mechanism and "MUST close the connection without attempting a
/// negotiated close" for tune-ok limits above its own. RabbitMQ 3.10 does
/// the same for any handshake error before login succeeds, after a 3 s
/// pause; Warren closes at once.
fn drop_handshake(ctx: &mut Ctx, err: AmqpError) -> Result<()> {
    lifecycle::finish(ctx.state, ctx.conn, err.text);
    Ok(())
}

/// RabbitMQ's rule for a negotiated value: at least `min` unless 0, and
/// within the server's `max` (0, "no limit", is not within it).
fn check_negotiated(field: &str, min: u32, max: u32, value: u32) -> Result<()> {
    let detail = |than: &str, bound: &str, limit: u32| {
        AmqpError::not_allowed(format_args!("negotiated {field} = {value} is {than} than the {bound} allowed value ({limit})")).on((10, 31))
    };
    if value != 0 && value < min {
        return Err(detail("lower", "minimum", min));
    }
    if max != 0 && (value == 0 || value > max) {
        return Err(detail("higher", "maximum", max));
    }
    Ok(())
}

fn tune_ok(ctx: &mut Ctx, m: ConnectionTuneOk) -> Result<()> {
    let server_channels = ctx.config.channel_max;
    let server_frame = ctx.config.frame_max;
    // channel_max 0 is still taken to mean the server's (RabbitMQ refuses it too).
    let channels = if m.channel_max == 0 { server_channels } else { m.channel_max };
    let checked = check_negotiated("frame_max", FRAME_MIN_SIZE, server_frame, m.frame_max)
        .and_then(|()| check_negotiated("channel_max", 1, server_channels.into(), channels.into()));
    if let Err(err) = checked {
        return drop_handshake(ctx, err);
    }
    ctx.conn.channel_max = channels;
    ctx.conn.frame_max = if m.frame_max == 0 { server_frame } else { m.frame_max };
    ctx.conn.heartbeat = m.heartbeat;
    ctx.conn.state = ConnState::AwaitingOpen;
    if m.heartbeat > 0 {
        let at = ctx.now + m.heartbeat as u64 * 500;
        ctx.state.clock.schedule(at, Timer::Heartbeat(ctx.conn.id));
    }
    Ok(())
}

fn open(ctx: &mut Ctx, m: ConnectionOpen) -> Result<()> {
    if !ctx.state.topology.vhosts.contains_key(&*m.virtual_host) {
        return Err(AmqpError::not_allowed(format_args!("vhost {} not found", m.virtual_host)).on((10, 40)));
    }
    if !ctx.state.access.permissions.contains_key(&(ctx.conn.user.clone(), m.virtual_host.to_string())) {
        return Err(
            AmqpError::not_allowed(format_args!("access to vhost '{}' refused for user '{}'", m.virtual_host, ctx.conn.user)).on((10, 40))
        );
    }
    ctx.state.access.admit_connection(&ctx.conn.user, &m.virtual_host).map_err(|e| e.on((10, 40)))?;
    ctx.state.access.count_connection(&ctx.conn.user, &m.virtual_host, true);
    ctx.conn.vhost = m.virtual_host.to_string();
    ctx.conn.send_method(0, &ConnectionOpenOk::default().into());
    ctx.conn.state = ConnState::Open;
    Ok(())
}
