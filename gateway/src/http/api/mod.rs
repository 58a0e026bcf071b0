//! `/api`: the management API (RabbitMQ-compatible JSON). Reserved for
//! now: every path answers 404 in RabbitMQ's error shape, so clients and
//! the dashboard see JSON, never a static file or a WebSocket, here.
//! Resources get one module each as they arrive (queues, exchanges, ...).

use axum::extract::OriginalUri;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};

/// Every route under `/api`, with full paths (merged into the root router).
/// Specific routes added here win over the catch-all.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/api", any(not_found))
        .route("/api/", any(not_found))
        .route("/api/{*rest}", any(not_found))
}

/// `{"error":"not_found","reason":"..."}` with status 404.
pub async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    let body = serde_json::json!({
        "error": "not_found",
        "reason": format!("no management API endpoint at {}", uri.path()),
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}
