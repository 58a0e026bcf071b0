//! Per-vhost permissions, as RabbitMQ has them: three regular expressions
//! per user and vhost, for configure, write and read. A name is allowed
//! when the expression matches somewhere in it (unanchored, as Erlang's
//! `re:run`); an empty expression allows nothing.

use regex_lite::Regex;

use crate::error::{resource, AmqpError, Result};

/// A user's permissions on one vhost, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub user: String,
    pub vhost: String,
    pub configure: String,
    pub write: String,
    pub read: String,
}

impl Permission {
    /// Full access (`.*` for all three), as RabbitMQ gives guest on `/`.
    pub fn all(user: &str, vhost: &str) -> Self {
        Permission { user: user.into(), vhost: vhost.into(), configure: ".*".into(), write: ".*".into(), read: ".*".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Configure,
    Write,
    Read,
}

/// A permission with its expressions compiled.
#[derive(Debug, Clone)]
pub struct Compiled {
    configure: Option<Regex>,
    write: Option<Regex>,
    read: Option<Regex>,
}

/// An expression of a permission that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadExpression {
    /// `configure`, `write` or `read`.
    pub which: &'static str,
    pub expression: String,
    /// What the regular expression parser said.
    pub reason: String,
}

fn compile(which: &'static str, expr: &str) -> core::result::Result<Option<Regex>, BadExpression> {
    if expr.is_empty() {
        return Ok(None);
    }
    Regex::new(expr).map(Some).map_err(|e| BadExpression { which, expression: expr.to_string(), reason: e.to_string() })
}

impl Compiled {
    pub fn new(p: &Permission) -> core::result::Result<Self, String> {
        Self::compile(p).map_err(|e| format!("invalid permission expression '{}': {}", e.expression, e.reason))
    }

    /// Compiles the three expressions; the error says which one failed.
    pub fn compile(p: &Permission) -> core::result::Result<Self, BadExpression> {
        Ok(Compiled { configure: compile("configure", &p.configure)?, write: compile("write", &p.write)?, read: compile("read", &p.read)? })
    }

    pub fn allows(&self, access: Access, name: &str) -> bool {
        let re = match access {
            Access::Configure => &self.configure,
            Access::Write => &self.write,
            Access::Read => &self.read,
        };
        re.as_ref().is_some_and(|re| re.is_match(name))
    }
}

/// Checks `access` to a resource; `compiled` is the user's permission on
/// the resource's vhost, if any. The default exchange is checked under its
/// alias `amq.default`, as RabbitMQ does.
pub fn check(compiled: Option<&Compiled>, access: Access, kind: &str, name: &str, vhost: &str, user: &str) -> Result<()> {
    let checked = if kind == "exchange" && name.is_empty() { "amq.default" } else { name };
    if compiled.is_some_and(|c| c.allows(access, checked)) {
        return Ok(());
    }
    Err(AmqpError::access_refused(format_args!("access to {} refused for user '{user}'", resource(kind, checked, vhost))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanchored_matching_and_empty_means_nothing() {
        let p = Permission {
            user: "u".into(),
            vhost: "/".into(),
            configure: "".into(),
            write: "^amq\\.default$|^logs".into(),
            read: "tmp".into(),
        };
        let c = Compiled::new(&p).unwrap();
        assert!(!c.allows(Access::Configure, "anything"));
        assert!(c.allows(Access::Write, "logs.info"));
        assert!(!c.allows(Access::Write, "mylogs"));
        assert!(c.allows(Access::Read, "a-tmp-queue"));
        let err = check(Some(&c), Access::Configure, "queue", "q", "/", "u").unwrap_err();
        assert_eq!(err.text, "ACCESS_REFUSED - access to queue 'q' in vhost '/' refused for user 'u'");
        assert!(check(Some(&c), Access::Write, "exchange", "", "/", "u").is_ok());
        assert!(check(None, Access::Read, "queue", "tmp", "/", "u").is_err());
    }
}
