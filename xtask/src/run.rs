//! `cargo xtask run`: builds everything in release (including the browser
//! build in www/pkg) and replaces itself with `warren`.

use std::process::Command;

use crate::process::{cargo, root, show, status, target_dir};
use crate::web::{build_web_pkg, ensure_wasm_target};

/// Builds the workspace and runs `warren` with `args` (after an optional `--`).
pub fn run(args: &[String]) -> Result<(), String> {
    let warren_args: Vec<String> = match args.first().map(String::as_str) {
        Some("--") => args[1..].to_vec(),
        _ => args.to_vec(),
    };
    let root = root();
    ensure_wasm_target()?;

    build_web_pkg(&root)?;

    // Everything else, then warren itself.
    let mut c = cargo();
    c.args(["build", "--workspace", "--release"]);
    status(c)?;
    let warren = target_dir().join("release").join(format!("warren{}", std::env::consts::EXE_SUFFIX));
    let mut c = Command::new(&warren);
    c.args(&warren_args).current_dir(&root);
    println!("xtask: $ {}   (Ctrl-C to stop)", show(&c));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Replace this process so signals go straight to warren.
        let e = c.exec();
        Err(format!("cannot exec {}: {e}", warren.display()))
    }
    #[cfg(not(unix))]
    {
        status(c)
    }
}
