//! The HTTP port (15672 by default): one router for everything a browser
//! or an HTTP client reaches.
//!
//! * `/api` and `/api/...`: the management API ([`api`]), JSON only.
//! * Any other path with an RFC 6455 upgrade request: an AMQP 0-9-1
//!   connection carried over WebSocket ([`ws`]).
//! * Any other path without one: the dashboard and the in-browser
//!   playground ([`www`]: built into the binary, or from `--www-dir`).
//!
//! This module only routes. It holds no protocol logic: AMQP lives in the
//! core, and the WebSocket transport only moves bytes to and from it.

pub mod api;
mod ws;
pub mod www;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::core_task::CoreSender;
use www::Www;

/// What every handler may reach.
#[derive(Clone)]
struct AppState {
    /// The core task: upgraded WebSocket connections talk to it.
    core: CoreSender,
    /// Static files for plain GETs outside `/api`.
    www: Www,
}

/// The whole HTTP surface.
pub fn router(core: CoreSender, www: Www, api: api::Context) -> Router {
    let state = AppState { core, www };
    Router::new().merge(api::routes(api)).fallback(upgrade_or_static).with_state(state)
}

/// Serves `router` on `listener` until `shutdown` turns true. Upgraded
/// WebSocket connections are not waited for: the core closes them.
pub async fn serve(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    // AMQP is chatty with small frames: do not let Nagle hold them back.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    if let Err(e) = axum::serve(listener, service).with_graceful_shutdown(stop).await {
        tracing::warn!("HTTP server stopped: {e}");
    }
}

/// Serves `router` over TLS (HTTPS, and WSS for AMQP over WebSocket) on
/// `listener` until `shutdown` turns true.
pub async fn serve_tls(listener: TcpListener, tls: crate::tls::Tls, router: Router, mut shutdown: watch::Receiver<bool>) {
    // tap_io: axum knows the peer address (ConnectInfo) of a tapped listener.
    let listener = match crate::tls::TlsListener::new(listener, tls) {
        Ok(l) => l.tap_io(|_| {}),
        Err(e) => {
            tracing::warn!("HTTPS listener: {e}");
            return;
        }
    };
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    if let Err(e) = axum::serve(listener, service).with_graceful_shutdown(stop).await {
        tracing::warn!("HTTPS server stopped: {e}");
    }
}

/// Every non-API path: a WebSocket upgrade becomes an AMQP connection,
/// anything else is a static file request.
async fn upgrade_or_static(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request) -> Response {
    if !wants_websocket(request.headers()) {
        return state.www.serve(request).await;
    }
    let (mut parts, _body) = request.into_parts();
    match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => ws::accept(upgrade, &parts.headers, peer, state.core),
        // A malformed handshake gets axum's 4xx explaining what is missing.
        Err(rejection) => rejection.into_response(),
    }
}

/// `Upgrade: websocket` (case-insensitive, possibly among other tokens).
fn wants_websocket(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("websocket"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn upgrade_header_detection() {
        let mut h = HeaderMap::new();
        assert!(!wants_websocket(&h));
        h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        assert!(!wants_websocket(&h));
        h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        assert!(wants_websocket(&h));
        h.insert(header::UPGRADE, HeaderValue::from_static("foo, websocket"));
        assert!(wants_websocket(&h));
    }
}
