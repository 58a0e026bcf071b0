//! `Broker::new` refuses a configuration it cannot honour, naming the
//! setting and why, instead of dropping or adjusting it.

use broker_core::{Broker, Config, ConfigError, Permission, User};

fn refused(config: Config) -> ConfigError {
    match Broker::new(config, 1_000) {
        Ok(_) => panic!("the configuration was accepted"),
        Err(e) => e,
    }
}

#[test]
fn the_default_configuration_is_valid() {
    assert!(Broker::new(Config::default(), 1_000).is_ok());
}

#[test]
fn a_permission_whose_expression_does_not_compile_is_refused() {
    let config =
        Config { permissions: vec![Permission { write: "[unclosed".into(), ..Permission::all("guest", "/") }], ..Config::default() };
    let e = refused(config);
    match &e {
        ConfigError::BadExpression { user, vhost, which, expression, .. } => {
            assert_eq!((user.as_str(), vhost.as_str(), *which, expression.as_str()), ("guest", "/", "write", "[unclosed"));
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.starts_with("permission of user 'guest' on vhost '/': the write expression '[unclosed' is not a valid regular expression: "),
        "{text}"
    );
}

#[test]
fn a_permission_for_an_unknown_user_or_vhost_is_refused() {
    let mut config = Config::default();
    config.permissions.push(Permission::all("nobody", "/"));
    assert_eq!(refused(config), ConfigError::UnknownUser { user: "nobody".into(), vhost: "/".into() });

    let mut config = Config::default();
    config.permissions.push(Permission::all("guest", "elsewhere"));
    let e = refused(config);
    assert_eq!(e, ConfigError::UnknownVhost { user: "guest".into(), vhost: "elsewhere".into() });
    assert_eq!(e.to_string(), "permission of user 'guest' on vhost 'elsewhere': no vhost 'elsewhere'");
}

#[test]
fn duplicates_are_refused() {
    let mut config = Config::default();
    config.users.push(User::new("guest", "other", [1, 2, 3, 4]));
    assert_eq!(refused(config).to_string(), "user 'guest' is listed twice");

    let mut config = Config::default();
    config.vhosts.push("/".into());
    assert_eq!(refused(config).to_string(), "vhost '/' is listed twice");

    let mut config = Config::default();
    config.permissions.push(Permission { read: "^x$".into(), ..Permission::all("guest", "/") });
    assert_eq!(refused(config).to_string(), "permission of user 'guest' on vhost '/' is listed twice");
}

#[test]
fn settings_out_of_range_are_refused() {
    let cases: [(Config, &str); 5] = [
        (Config { frame_max: 4095, ..Config::default() }, "frame_max = 4095: it must be at least 4096, or 0 for no limit"),
        (Config { max_message_size: 0, ..Config::default() }, "max_message_size = 0: it must be between 1 octet and 512 MiB"),
        (
            Config { max_message_size: 512 * 1024 * 1024 + 1, ..Config::default() },
            "max_message_size = 536870913: it must be between 1 octet and 512 MiB",
        ),
        (Config { handshake_timeout_ms: 0, ..Config::default() }, "handshake_timeout_ms = 0: it must be at least 1 ms"),
        (
            Config { consumer_timeout_ms: Some(0), ..Config::default() },
            "consumer_timeout_ms = 0: it must be at least 1 ms (None disables it)",
        ),
    ];
    for (config, text) in cases {
        assert_eq!(refused(config).to_string(), text);
    }
    // The edges that work.
    assert!(Broker::new(Config { frame_max: 0, ..Config::default() }, 1_000).is_ok());
    assert!(Broker::new(Config { frame_max: 4096, max_message_size: 512 * 1024 * 1024, ..Config::default() }, 1_000).is_ok());
}
