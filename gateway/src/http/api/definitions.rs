//! `/api/definitions[/{vhost}]` (administrators): export and import in
//! RabbitMQ's JSON format. The format, what an export leaves out and how an
//! import is applied are `broker_core::management::definitions`'s (shared
//! with the data directory and the playground); here are the HTTP side and
//! the log line for each binding an import skips.

use axum::extract::Path;
use axum::response::Response;
use broker_core::management::definitions::{Definitions, Imported};
use serde_json::{Map, Value};

use super::auth::authenticate;
use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::{reply, Ctx};

pub async fn export(ctx: Ctx, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let defs = ctx.core.call(|b| b.definitions(None)).await?;
    Ok(reply::object(&req.query, defs.to_json()))
}

pub async fn export_vhost(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_admin()?;
    if !user.vhost_exists(&vhost) {
        return Err(ApiError::object_not_found());
    }
    let defs = ctx.core.call(move |b| b.definitions(Some(&vhost))).await?;
    Ok(reply::object(&req.query, defs.to_vhost_json()))
}

fn document(req: &Req) -> ApiResult<Map<String, Value>> {
    // RabbitMQ's reason for a body that is not a JSON object.
    req.json().map_err(|_| ApiError::bad_request("failed_to_parse_json"))
}

/// Logs the bindings an import skipped; its outcome as the API's.
fn outcome(imported: Imported) -> Result<(), Value> {
    for why in &imported.skipped {
        tracing::warn!("definitions: {why}");
    }
    imported.result
}

async fn import_into(ctx: &Ctx, req: &Req, vhost: Option<String>) -> ApiResult<Response> {
    let defs = Definitions::parse(&document(req)?, vhost.as_deref(), &mut crate::clock::seed).map_err(ApiError::bad_request)?;
    let imported = ctx.core.call(move |b| b.import_definitions(defs)).await?;
    outcome(imported).map_err(ApiError::bad_request)?;
    Ok(reply::no_content())
}

pub async fn import(ctx: Ctx, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    import_into(&ctx, &req, None).await
}

pub async fn import_vhost(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_admin()?;
    if !user.vhost_exists(&vhost) {
        return Err(ApiError::object_not_found());
    }
    import_into(&ctx, &req, Some(vhost)).await
}
