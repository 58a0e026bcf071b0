//! Shaping replies as RabbitMQ's management plugin does: JSON with
//! `cache-control: no-cache`, and for lists the query parameters `sort`,
//! `sort_reverse`, `columns` (dotted paths) and pagination (`page`,
//! `page_size`, `name`, `use_regex`).

use std::cmp::Ordering;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult};
use super::request::Query;

const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 500;

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// A single object, with `columns` applied.
pub fn object(query: &Query, item: Value) -> Response {
    let item = match columns(query) {
        Some(cols) => select(item, &cols),
        None => item,
    };
    json_response(StatusCode::OK, &item)
}

/// 201 when something was created, 204 when it already existed (RabbitMQ's PUT).
pub fn created(was_new: bool) -> Response {
    if was_new {
        StatusCode::CREATED.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A list: sorted by `sort` (then by vhost and name), reversed with
/// `sort_reverse=true`, paged when `page` is given, reduced to `columns`.
pub fn list(query: &Query, mut items: Vec<Value>) -> ApiResult {
    if let Some(sort) = query.get("sort").filter(|s| !s.is_empty()) {
        let keys = [sort.as_str(), "vhost", "name"];
        items
            .sort_by(|a, b| keys.iter().map(|k| erlang_order(&dotted(a, k), &dotted(b, k))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal));
    }
    if query.get("sort_reverse").is_some_and(|v| v == "true") {
        items.reverse();
    }
    let cols = columns(query);
    let shape = |items: Vec<Value>| -> Vec<Value> {
        match &cols {
            Some(c) => items.into_iter().map(|i| select(i, c)).collect(),
            None => items,
        }
    };
    let Some(page) = pagination(query)? else {
        return Ok(json_response(StatusCode::OK, &Value::Array(shape(items))));
    };
    let total = items.len();
    let filtered: Vec<Value> = match &page.name {
        None => items,
        Some(name) => {
            let matcher = NameFilter::new(name, page.use_regex)?;
            items.into_iter().filter(|i| i.get("name").and_then(Value::as_str).is_some_and(|n| matcher.matches(n))).collect()
        }
    };
    let offset = (page.page - 1) * page.page_size;
    if offset > filtered.len() || (offset == filtered.len() && offset > 0) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "page_out_of_range",
            format!("Page out of range, page: {} page size: {}, len: {}", page.page, page.page_size, filtered.len()),
        ));
    }
    let page_items: Vec<Value> = filtered.iter().skip(offset).take(page.page_size).cloned().collect();
    let body = json!({
        "filtered_count": filtered.len(),
        "item_count": page_items.len(),
        "items": shape(page_items),
        "page": page.page,
        "page_count": filtered.len().div_ceil(page.page_size),
        "page_size": page.page_size,
        "total_count": total,
    });
    Ok(json_response(StatusCode::OK, &body))
}

struct Page {
    page: usize,
    page_size: usize,
    name: Option<String>,
    use_regex: bool,
}

fn pagination(query: &Query) -> ApiResult<Option<Page>> {
    let Some(page) = query.get("page") else { return Ok(None) };
    let size = query.get("page_size");
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_pagination_parameters",
            format!("Invalid pagination parameters: page number {}, page size {}", page, size.map_or("undefined", |s| s.as_str())),
        )
    };
    let page: usize = page.parse().map_err(|_| bad())?;
    let page_size: usize = match size {
        None => DEFAULT_PAGE_SIZE,
        Some(s) => s.parse().map_err(|_| bad())?,
    };
    if page == 0 || page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(bad());
    }
    let name = query.get("name").filter(|n| !n.is_empty()).cloned();
    Ok(Some(Page { page, page_size, name, use_regex: query.get("use_regex").is_some_and(|v| v == "true") }))
}

/// RabbitMQ's `name` filter: a case-insensitive substring, or with
/// `use_regex=true` a case-insensitive regular expression.
enum NameFilter {
    Substring(String),
    Regex(regex_lite::Regex),
}

impl NameFilter {
    fn new(name: &str, regex: bool) -> ApiResult<Self> {
        if regex {
            regex_lite::RegexBuilder::new(name)
                .case_insensitive(true)
                .build()
                .map(NameFilter::Regex)
                .map_err(|e| ApiError::bad_request(format!("invalid regular expression: {e}")))
        } else {
            Ok(NameFilter::Substring(name.to_lowercase()))
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            NameFilter::Substring(s) => name.to_lowercase().contains(s),
            NameFilter::Regex(r) => r.is_match(name),
        }
    }
}

/// `columns=name,message_stats.publish_details.rate` as paths.
fn columns(query: &Query) -> Option<Vec<Vec<String>>> {
    let cols = query.get("columns")?;
    Some(cols.split(',').filter(|c| !c.is_empty()).map(|c| c.split('.').map(str::to_string).collect()).collect())
}

/// Keeps only the wanted paths of an object (arrays are reduced item by item).
fn select(value: Value, cols: &[Vec<String>]) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let deeper: Vec<Vec<String>> = cols.iter().filter(|c| c.first() == Some(&k)).map(|c| c[1..].to_vec()).collect();
                if deeper.is_empty() {
                    continue;
                }
                // A path ending here takes the whole value.
                let v = if deeper.iter().any(|d| d.is_empty()) { v } else { select(v, &deeper) };
                out.insert(k, v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|i| select(i, cols)).collect()),
        other => other,
    }
}

/// The value at a dotted path; missing means 0, as in RabbitMQ's sort.
fn dotted(item: &Value, path: &str) -> Value {
    let mut v = item;
    for key in path.split('.') {
        match v.get(key) {
            Some(next) => v = next,
            None => return json!(0),
        }
    }
    v.clone()
}

/// Erlang's term order, which RabbitMQ's sort follows: numbers, then atoms
/// (true, false, null), objects, arrays, and strings last.
fn erlang_order(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::Bool(_) | Value::Null => 1,
            Value::Object(_) => 2,
            Value::Array(_) => 3,
            Value::String(_) => 4,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(_) | Value::Null, Value::Bool(_) | Value::Null) => atom(a).cmp(atom(b)),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn atom(v: &Value) -> &'static str {
    match v {
        Value::Bool(true) => "true",
        Value::Bool(false) => "false",
        _ => "null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_keep_dotted_paths() {
        let item = json!({"name": "q", "vhost": "/", "message_stats": {"publish": 3, "publish_details": {"rate": 1.5}}});
        let cols = vec![vec!["name".to_string()], vec!["message_stats".into(), "publish_details".into(), "rate".into()]];
        assert_eq!(select(item, &cols), json!({"name": "q", "message_stats": {"publish_details": {"rate": 1.5}}}));
    }

    #[test]
    fn sort_order_is_erlangs() {
        assert_eq!(erlang_order(&json!(2), &json!("a")), Ordering::Less);
        assert_eq!(erlang_order(&json!("b"), &json!("a")), Ordering::Greater);
        assert_eq!(erlang_order(&json!(false), &json!(true)), Ordering::Less);
        assert_eq!(dotted(&json!({"a": {"b": 5}}), "a.b"), json!(5));
        assert_eq!(dotted(&json!({}), "a.b"), json!(0));
    }
}
