//! What every API handler takes from a request: the credentials, the
//! peer address, the query string and the body (capped in size), parsed
//! the way RabbitMQ parses them.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::{header, HeaderMap};
use base64::Engine;
use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult};

/// Largest request body accepted (413 beyond).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Decoded query parameters (the last one wins when repeated).
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(raw: &str) -> Self {
        let mut map = HashMap::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(form_decode(k), form_decode(v));
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&String> {
        self.0.get(key)
    }

    /// `?if-unused=true` and the like.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v == "true")
    }
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space).
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The parts of a request the API uses.
pub struct Req {
    /// Basic-auth user and password, if the request carried them.
    pub credentials: Option<(String, String)>,
    pub peer: Option<SocketAddr>,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Req {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        let query = Query::parse(parts.uri.query().unwrap_or(""));
        let credentials = basic_credentials(&parts.headers);
        // A declared length over the cap is refused before reading anything.
        let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(ApiError::too_large(MAX_BODY));
        }
        let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| ApiError::too_large(MAX_BODY))?;
        Ok(Req { credentials, peer, query, headers: parts.headers, body })
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

impl Req {
    /// The body as a JSON object, as RabbitMQ decodes it: empty, `null` and
    /// `undefined` mean `{}`; anything but an object is `not_json`.
    pub fn json(&self) -> ApiResult<Map<String, Value>> {
        let text = std::str::from_utf8(&self.body).map_err(|_| ApiError::bad_request("not_json"))?.trim();
        if text.is_empty() || text == "null" || text == "undefined" {
            return Ok(Map::new());
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(Value::String(_)) => {
                Err(ApiError::bad_request("invalid payload: the request body JSON-decoded to a string. Is the input doubly-JSON-encoded?"))
            }
            _ => Err(ApiError::bad_request("not_json")),
        }
    }

    /// The body's object and the values of `keys`, all required
    /// (`[{key_missing,...}]` otherwise, listing every missing one).
    pub fn json_with(&self, keys: &[&str]) -> ApiResult<(Map<String, Value>, Vec<Value>)> {
        let body = self.json()?;
        let missing: Vec<&str> = keys.iter().copied().filter(|k| body.get(*k).is_none_or(Value::is_null)).collect();
        if !missing.is_empty() {
            return Err(ApiError::keys_missing(&missing));
        }
        let values = keys.iter().map(|k| body[*k].clone()).collect();
        Ok((body, values))
    }
}

/// A boolean body field: JSON true/false or the strings "true"/"false".
pub fn bool_field(body: &Map<String, Value>, key: &str) -> ApiResult<bool> {
    broker_core::management::json::bool_field(body, key).map_err(ApiError::bad_request)
}

/// A string body field, `""` when absent.
pub fn str_field<'a>(body: &'a Map<String, Value>, key: &str) -> ApiResult<&'a str> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::bad_request(serde_json::json!(["not_string", key]))),
    }
}

/// An integer given as a JSON number or a string of digits (RabbitMQ's `parse_int`).
pub use broker_core::management::json::int_value;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        let q = Query::parse("columns=name,message_stats.publish&name=a%2Fb+c&if-unused=true&empty");
        assert_eq!(q.get("name").map(String::as_str), Some("a/b c"));
        assert!(q.flag("if-unused"));
        assert_eq!(q.get("empty").map(String::as_str), Some(""));
        assert_eq!(form_decode("%zz%4"), "%zz%4");
    }
}
