//! API errors in RabbitMQ's shape: `{"error": ..., "reason": ...}` with the
//! status codes its management plugin uses, and the three ways it turns an
//! AMQP error into one (which way depends on the endpoint, as in RabbitMQ).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use broker_core::amqp::ReplyCode;
use broker_core::AmqpError;
use serde_json::{json, Value};

use crate::core_task::CoreGone;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    /// A string, or for some RabbitMQ errors an Erlang term shown as an array.
    pub reason: Value,
    /// Adds `WWW-Authenticate` (401 for missing or wrong credentials).
    challenge: bool,
    /// RabbitMQ answers a request without credentials with no body at all.
    empty: bool,
}

pub type ApiResult<T = Response> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, reason: impl Into<Value>) -> Self {
        ApiError { status, error, reason: reason.into(), challenge: false, empty: false }
    }

    /// 404 for a resource that is not there: RabbitMQ's fixed body.
    pub fn object_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Object Not Found", "Not Found")
    }

    pub fn not_found(reason: impl Into<Value>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", reason)
    }

    /// PUT into a vhost that does not exist.
    pub fn vhost_not_found() -> Self {
        Self::not_found("vhost_not_found")
    }

    pub fn bad_request(reason: impl Into<Value>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", reason)
    }

    /// 401 for a known user lacking a tag or access ("not_authorised", with an s).
    pub fn not_authorised(reason: impl Into<Value>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "not_authorised", reason)
    }

    /// 401 for wrong credentials ("not_authorized", with a z, as RabbitMQ spells it here).
    pub fn login_failed(reason: &str) -> Self {
        ApiError { challenge: true, ..Self::new(StatusCode::UNAUTHORIZED, "not_authorized", reason) }
    }

    pub fn no_credentials() -> Self {
        ApiError { challenge: true, empty: true, ..Self::new(StatusCode::UNAUTHORIZED, "not_authorized", "") }
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("Exceeded HTTP request body size limit of {limit} bytes"))
    }

    /// RabbitMQ's `[{key_missing,routing_key},...]` (an Erlang term printed
    /// with `~p`, which wraps lines past 80 columns).
    pub fn keys_missing(keys: &[&str]) -> Self {
        Self::bad_request(broker_core::management::json::keys_missing(keys))
    }

    /// Errors of operations RabbitMQ runs as a direct method call (declare,
    /// delete, bind, unbind, purge): the explanation without the reply-code
    /// prefix; 404 for NOT_FOUND; any refusal is a bare "Access refused.".
    pub fn direct(e: AmqpError) -> Self {
        let explanation = strip_code(&e.text).to_string();
        match e.code {
            ReplyCode::NotFound => Self::not_found(explanation),
            ReplyCode::AccessRefused | ReplyCode::NotAllowed => Self::not_authorised("Access refused."),
            _ => Self::bad_request(explanation),
        }
    }

    /// Errors of operations RabbitMQ runs on a channel (get): the full reply
    /// text; 404 and 403 keep their meaning, the rest is "CODE TEXT".
    pub fn channel(e: AmqpError) -> Self {
        match e.code {
            ReplyCode::NotFound => Self::not_found(e.text),
            ReplyCode::AccessRefused => Self::not_authorised(e.text),
            code => Self::bad_request(format!("{} {}", u16::from(code), e.text)),
        }
    }

    /// Errors of a publish: always 400 "CODE TEXT", even for a missing
    /// exchange (RabbitMQ's publish handler catches the channel closing itself).
    pub fn publish(e: AmqpError) -> Self {
        Self::bad_request(format!("{} {}", u16::from(e.code), e.text))
    }
}

/// `NOT_FOUND - no queue 'q'` → `no queue 'q'`.
fn strip_code(text: &str) -> &str {
    text.split_once(" - ").map_or(text, |(_, rest)| rest)
}

/// The `error` of an API error caused by the core task being gone.
const CORE_GONE: &str = "service_unavailable";

impl From<CoreGone> for ApiError {
    fn from(_: CoreGone) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, CORE_GONE, "broker is shutting down")
    }
}

impl ApiError {
    /// Whether the core task was gone (health checks then fail instead).
    pub fn is_core_gone(&self) -> bool {
        self.error == CORE_GONE
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = if self.empty {
            self.status.into_response()
        } else {
            let body = json!({ "error": self.error, "reason": self.reason });
            super::reply::json_response(self.status, &body)
        };
        if self.challenge {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"RabbitMQ Management\""));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amqp_errors_map_as_rabbitmq_maps_them() {
        let e = AmqpError::precondition_failed("inequivalent arg 'durable' for queue 'q' in vhost '/'");
        let d = ApiError::direct(e.clone());
        assert_eq!((d.status, d.reason), (StatusCode::BAD_REQUEST, json!("inequivalent arg 'durable' for queue 'q' in vhost '/'")));
        let c = ApiError::channel(e);
        assert_eq!(c.reason, json!("406 PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/'"));
        let refused = AmqpError::access_refused("access to queue 'q' in vhost '/' refused for user 'u'");
        assert_eq!(ApiError::direct(refused.clone()).reason, json!("Access refused."));
        assert_eq!(ApiError::channel(refused.clone()).status, StatusCode::UNAUTHORIZED);
        assert_eq!(ApiError::publish(refused).status, StatusCode::BAD_REQUEST);
        let nf = AmqpError::not_found("no exchange 'x' in vhost '/'");
        assert_eq!(ApiError::direct(nf.clone()).reason, json!("no exchange 'x' in vhost '/'"));
        assert_eq!(ApiError::publish(nf).reason, json!("404 NOT_FOUND - no exchange 'x' in vhost '/'"));
    }

    #[test]
    fn missing_keys_print_like_erlang() {
        assert_eq!(ApiError::keys_missing(&["write", "read"]).reason, json!("[{key_missing,write},{key_missing,read}]"));
        let long = ApiError::keys_missing(&["routing_key", "properties", "payload", "payload_encoding"]).reason;
        assert_eq!(
            long,
            json!("[{key_missing,routing_key},\n {key_missing,properties},\n {key_missing,payload},\n {key_missing,payload_encoding}]")
        );
    }
}
