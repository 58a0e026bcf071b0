//! The dashboard and playground files: the copy of `www/` built into the
//! binary (see `build.rs`), so a `warren` started anywhere has its UI; or,
//! with `--www-dir`, a directory read on every request (for development,
//! and for tests that serve pages of their own).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/www_files.rs"));
}

/// Where static files come from.
#[derive(Clone)]
pub enum Www {
    Embedded,
    Dir(ServeDir),
}

impl Www {
    pub fn dir(path: &std::path::Path) -> Self {
        Www::Dir(ServeDir::new(path))
    }

    /// Answers a plain (non-upgrade) request outside `/api`. `/playground`
    /// is the playground page.
    pub async fn serve(&self, request: Request) -> Response {
        let request = if request.uri().path() == "/playground" {
            let (mut parts, body) = request.into_parts();
            parts.uri = Uri::from_static("/playground.html");
            Request::from_parts(parts, body)
        } else {
            request
        };
        match self {
            Www::Embedded => embedded_file(&request),
            Www::Dir(dir) => match dir.clone().oneshot(request).await {
                Ok(response) => response.into_response(),
                Err(never) => match never {},
            },
        }
    }
}

/// Whether the embedded copy has the playground's wasm build (`www/pkg`).
pub fn embedded_has_playground() -> bool {
    lookup("pkg/web_bg.wasm").is_some()
}

fn lookup(path: &str) -> Option<&'static (&'static str, &'static [u8], u64)> {
    let files = embedded::FILES;
    files.binary_search_by(|(p, _, _)| (*p).cmp(path)).ok().map(|i| &files[i])
}

fn embedded_file(request: &Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")]).into_response();
    }
    let path = request.uri().path().trim_start_matches('/');
    let path = if path.is_empty() || path.ends_with('/') { format!("{path}index.html") } else { path.to_string() };
    let Some((name, contents, hash)) = lookup(&path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{hash:016x}\"");
    let fresh =
        request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if request.method() == Method::HEAD {
        let mut r = Response::new(Body::empty());
        r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(contents.len()));
        r
    } else {
        Response::new(Body::from(*contents))
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    // Revalidate every time: a new binary may carry new files.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    response
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("md" | "txt" | "ts") | None => "text/plain; charset=utf-8",
        Some(_) => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, etag: Option<&str>) -> Response {
        let mut b = Request::builder().uri(path);
        if let Some(e) = etag {
            b = b.header(header::IF_NONE_MATCH, e);
        }
        embedded_file(&b.body(Body::empty()).unwrap())
    }

    #[test]
    fn the_embedded_dashboard_is_served_with_types_and_etags() {
        let index = get("/", None);
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(index.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let etag = index.headers()[header::ETAG].to_str().unwrap().to_string();
        assert_eq!(get("/", Some(&etag)).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(get("/index.html", None).headers()[header::ETAG], etag.as_str());
        assert_eq!(get("/js/app.js", None).headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(get("/playground.html", None).status(), StatusCode::OK);
        assert_eq!(get("/nope.js", None).status(), StatusCode::NOT_FOUND);
        assert_eq!(get("/../Cargo.toml", None).status(), StatusCode::NOT_FOUND);
        let post = embedded_file(&Request::builder().method("POST").uri("/").body(Body::empty()).unwrap());
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
