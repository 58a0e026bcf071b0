//! Shared by the management API tests: a small client for `/api` that
//! returns status, headers and the JSON body, and asserts RabbitMQ's error
//! shape.

#![allow(dead_code)]

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{within, Broker};

pub const GUEST: (&str, &str) = ("guest", "guest");

pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    /// Whether the broker is a warren started by this test.
    pub warren: bool,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts status and the exact `{"error", "reason"}` body.
    #[track_caller]
    pub fn assert_error(&self, status: u16, error: &str, reason: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.body, json!({"error": error, "reason": reason}), "{}", self.text);
        assert_eq!(self.header("content-type"), Some("application/json"));
    }
}

impl Api {
    pub fn new(broker: &Broker) -> Option<Api> {
        let Some(http) = &broker.http_url else {
            eprintln!("skipped: no HTTP URL for this broker (set WARREN_TEST_HTTP_URL)");
            return None;
        };
        Some(Api { base: format!("{http}/api"), client: reqwest::Client::new(), warren: !broker.is_external() })
    }

    pub async fn call(&self, method: Method, path: &str, user: Option<(&str, &str)>, body: Option<Vec<u8>>) -> Reply {
        let mut req = self.client.request(method.clone(), format!("{}{path}", self.base));
        if let Some((u, p)) = user {
            req = req.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = within(&format!("{method} {path}"), req.send()).await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = within("response body", resp.text()).await.expect("body");
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        Reply { status, headers, text, body }
    }

    pub async fn as_user(&self, user: (&str, &str), method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, Some(user), body.map(|b| b.to_string().into_bytes())).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.as_user(GUEST, Method::GET, path, None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.as_user(GUEST, Method::PUT, path, Some(body)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.as_user(GUEST, Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.as_user(GUEST, Method::DELETE, path, None).await
    }

    /// Creates a user with `tags` (password "pw") and returns its credentials.
    pub async fn user(&self, name: &str, tags: &str) -> (String, String) {
        assert_eq!(self.put(&format!("/users/{name}"), json!({"password": "pw", "tags": tags})).await.status, 201);
        (name.to_string(), "pw".to_string())
    }
}

pub fn creds(u: &(String, String)) -> (&str, &str) {
    (u.0.as_str(), u.1.as_str())
}

/// The objects of a list reply, by name.
pub fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

pub async fn connect(broker: &Broker) -> lapin::Connection {
    within("lapin connect", lapin::Connection::connect(&broker.url, lapin::ConnectionProperties::default())).await.expect("connect")
}
