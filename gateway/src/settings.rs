//! Users, vhosts, permissions and consumer limits from the command line,
//! applied to the core's configuration at start.

use broker_core::{hash_password, Config, Permission, User};

#[derive(clap::Args, Debug, Default)]
pub struct AccessArgs {
    /// Add a user: `NAME:PASSWORD[:TAG,TAG…]` (repeatable). The password is
    /// stored as a salted SHA-256 hash, as RabbitMQ does.
    #[arg(long = "user", value_name = "NAME:PASSWORD[:TAGS]")]
    users: Vec<String>,

    /// Add a virtual host (repeatable). `/` always exists.
    #[arg(long = "vhost", value_name = "NAME")]
    vhosts: Vec<String>,

    /// Grant permissions: `USER:VHOST:CONFIGURE:WRITE:READ`, each a regular
    /// expression as in `rabbitmqctl set_permissions` (repeatable).
    #[arg(long = "permission", value_name = "USER:VHOST:CONF:WRITE:READ")]
    permissions: Vec<String>,

    /// Remove the default guest user.
    #[arg(long)]
    no_guest: bool,

    /// Close a channel whose delivery stays unacknowledged this long, in
    /// ms (RabbitMQ's consumer_timeout; 0 disables).
    #[arg(long, value_name = "MS", default_value_t = 1_800_000)]
    consumer_timeout_ms: u64,

    /// Limit a vhost, as `rabbitmqctl set_vhost_limits`:
    /// `VHOST:max-connections=N,max-queues=M` (repeatable; -1 = no limit).
    /// Overrides limits saved in the data directory.
    #[arg(long = "vhost-limit", value_name = "VHOST:LIMIT=N,...")]
    vhost_limits: Vec<String>,

    /// Limit a user, as `rabbitmqctl set_user_limits`:
    /// `USER:max-connections=N,max-channels=M` (repeatable; -1 = no limit).
    #[arg(long = "user-limit", value_name = "USER:LIMIT=N,...")]
    user_limits: Vec<String>,
}

/// Applies the flags to `config`. `salt` supplies 4 random octets per user.
pub fn apply(args: &AccessArgs, config: &mut Config, mut salt: impl FnMut() -> [u8; 4]) -> Result<(), String> {
    if args.no_guest {
        config.users.retain(|u| u.name != "guest");
        config.permissions.retain(|p| p.user != "guest");
    }
    for spec in &args.users {
        let mut parts = spec.splitn(3, ':');
        let (Some(name), Some(password)) = (parts.next(), parts.next()) else {
            return Err(format!("--user {spec}: expected NAME:PASSWORD[:TAGS]"));
        };
        if name.is_empty() {
            return Err(format!("--user {spec}: empty user name"));
        }
        let tags = parts.next().map(|t| t.split(',').filter(|t| !t.is_empty()).map(String::from).collect()).unwrap_or_default();
        config.users.retain(|u| u.name != name);
        config.users.push(User { name: name.to_string(), password_hash: hash_password(password, salt()), tags, loopback_only: false });
    }
    for vhost in &args.vhosts {
        if !config.vhosts.contains(vhost) {
            config.vhosts.push(vhost.clone());
        }
    }
    for spec in &args.permissions {
        let parts: Vec<&str> = spec.splitn(5, ':').collect();
        let [user, vhost, configure, write, read] = parts[..] else {
            return Err(format!("--permission {spec}: expected USER:VHOST:CONFIGURE:WRITE:READ"));
        };
        if !config.users.iter().any(|u| u.name == user) {
            return Err(format!("--permission {spec}: no user '{user}'"));
        }
        if !config.vhosts.iter().any(|v| v == vhost) {
            return Err(format!("--permission {spec}: no vhost '{vhost}' (add it with --vhost)"));
        }
        // The expressions are checked by the core (`Broker::new`).
        config.permissions.retain(|p| !(p.user == user && p.vhost == vhost));
        config.permissions.push(Permission {
            user: user.into(),
            vhost: vhost.into(),
            configure: configure.into(),
            write: write.into(),
            read: read.into(),
        });
    }
    config.consumer_timeout_ms = (args.consumer_timeout_ms > 0).then_some(args.consumer_timeout_ms);
    Ok(())
}

/// Applies `--vhost-limit` and `--user-limit` to the broker (after saved
/// definitions are restored, so the flags win).
pub fn apply_limits(args: &AccessArgs, broker: &mut broker_core::Broker) -> Result<(), String> {
    use crate::http::api::limits::limits_from_flag;
    use broker_core::management::definitions::{USER_LIMITS, VHOST_LIMITS};
    for spec in &args.vhost_limits {
        let (vhost, limits) = spec.rsplit_once(':').ok_or_else(|| format!("--vhost-limit {spec}: expected VHOST:LIMIT=N,..."))?;
        if !broker.vhost_names().iter().any(|v| v == vhost) {
            return Err(format!("--vhost-limit {spec}: no vhost '{vhost}' (add it with --vhost)"));
        }
        let l = limits_from_flag(limits, VHOST_LIMITS).map_err(|e| format!("--vhost-limit {spec}: {e}"))?;
        broker.set_vhost_limits(vhost, l);
    }
    for spec in &args.user_limits {
        let (user, limits) = spec.rsplit_once(':').ok_or_else(|| format!("--user-limit {spec}: expected USER:LIMIT=N,..."))?;
        if broker.user(user).is_none() {
            return Err(format!("--user-limit {spec}: no user '{user}'"));
        }
        let l = limits_from_flag(limits, USER_LIMITS).map_err(|e| format!("--user-limit {spec}: {e}"))?;
        broker.set_user_limits(user, l);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_vhosts_and_permissions_from_flags() {
        let args = AccessArgs {
            users: vec!["bob:s3cret:administrator,monitoring".into()],
            vhosts: vec!["dev".into()],
            permissions: vec!["bob:dev:^bob\\.:.*:".into()],
            no_guest: true,
            consumer_timeout_ms: 0,
            ..Default::default()
        };
        let mut config = Config::default();
        apply(&args, &mut config, || [9, 9, 9, 9]).unwrap();
        assert_eq!(config.users.len(), 1);
        let bob = &config.users[0];
        assert!(bob.check_password(b"s3cret"));
        assert_eq!(bob.tags, ["administrator", "monitoring"]);
        assert_eq!(config.vhosts, ["/", "dev"]);
        assert_eq!(config.permissions.len(), 1);
        assert_eq!((config.permissions[0].configure.as_str(), config.permissions[0].read.as_str()), ("^bob\\.", ""));
        assert_eq!(config.consumer_timeout_ms, None);
        let bad = AccessArgs { permissions: vec!["nobody:/:.*:.*:.*".into()], ..Default::default() };
        assert!(apply(&bad, &mut Config::default(), || [0; 4]).unwrap_err().contains("no user 'nobody'"));
    }
}
