//! HTTP basic auth against the broker's users, and RabbitMQ's tag rules:
//! any of `management`, `policymaker`, `monitoring`, `administrator` lets a
//! user in; `monitoring` sees every connection and vhost; `policymaker`
//! changes policies; `administrator` does everything, including users,
//! vhosts, permissions and definitions.

use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::Context;

/// An authenticated API user, with what the tag and vhost checks need.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub name: String,
    pub tags: Vec<String>,
    /// Vhosts this user has permissions on.
    pub vhosts: Vec<String>,
    /// Every vhost.
    pub all_vhosts: Vec<String>,
}

const MANAGEMENT_TAGS: &[&str] = &["management", "policymaker", "monitoring", "administrator"];

impl AuthUser {
    fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    pub fn is_admin(&self) -> bool {
        self.has("administrator")
    }

    pub fn is_monitor(&self) -> bool {
        self.is_admin() || self.has("monitoring")
    }

    pub fn is_policymaker(&self) -> bool {
        self.is_admin() || self.has("policymaker")
    }

    pub fn require_admin(&self) -> ApiResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::not_authorised("Not administrator user"))
        }
    }

    pub fn has_permissions_on(&self, vhost: &str) -> bool {
        self.vhosts.iter().any(|v| v == vhost)
    }

    pub fn vhost_exists(&self, vhost: &str) -> bool {
        self.all_vhosts.iter().any(|v| v == vhost)
    }

    /// Vhosts whose objects appear in lists: all for administrators, the
    /// permitted ones for everybody else.
    pub fn sees_vhost(&self, vhost: &str) -> bool {
        self.is_admin() || self.has_permissions_on(vhost)
    }

    /// Reading a vhost's objects: 404 for an unknown vhost, 401 without
    /// access (administrators may read any vhost).
    pub fn require_vhost(&self, vhost: &str) -> ApiResult<()> {
        if !self.vhost_exists(vhost) {
            return Err(ApiError::object_not_found());
        }
        if self.sees_vhost(vhost) {
            Ok(())
        } else {
            Err(ApiError::not_authorised("User not authorised to access virtual host"))
        }
    }

    /// Changing a vhost's objects happens as this user over AMQP, so the user
    /// needs permissions there, administrator or not (RabbitMQ's "Access
    /// refused." when its internal connection is refused).
    pub fn require_vhost_login(&self, vhost: &str) -> ApiResult<()> {
        if !self.vhost_exists(vhost) {
            return Err(ApiError::vhost_not_found());
        }
        if !self.sees_vhost(vhost) {
            return Err(ApiError::not_authorised("User not authorised to access virtual host"));
        }
        if !self.has_permissions_on(vhost) {
            return Err(ApiError::not_authorised("Access refused."));
        }
        Ok(())
    }
}

/// Checks the request's credentials. No credentials: a bare 401 with a
/// challenge; wrong ones: "Login failed"; a user without a management tag:
/// "Not management user".
pub async fn authenticate(ctx: &Context, req: &Req) -> ApiResult<AuthUser> {
    let Some((name, password)) = req.credentials.clone() else {
        return Err(ApiError::no_credentials());
    };
    let found = ctx
        .core
        .call(move |b| {
            let user = b.authenticate(&name, &password)?.clone();
            let vhosts = b.permissions().into_iter().filter(|p| p.user == user.name).map(|p| p.vhost).collect();
            Some((user, vhosts, b.vhost_names()))
        })
        .await?;
    let Some((user, vhosts, all_vhosts)) = found else {
        return Err(ApiError::login_failed("Login failed"));
    };
    // RabbitMQ's loopback_users rule holds for the API too.
    if user.loopback_only && !req.peer.is_some_and(|p| p.ip().to_canonical().is_loopback()) {
        return Err(ApiError::not_authorised("User can only log in via localhost"));
    }
    let auth = AuthUser { name: user.name, tags: user.tags, vhosts, all_vhosts };
    if !auth.tags.iter().any(|t| MANAGEMENT_TAGS.contains(&t.as_str())) {
        return Err(ApiError::not_authorised("Not management user"));
    }
    Ok(auth)
}
