//! Embeds `www/` (the dashboard and the playground, with the wasm build in
//! `www/pkg` when it has been built) into the `warren` binary, so that it
//! serves its UI from any working directory. Writes `$OUT_DIR/www_files.rs`:
//! every file's path under `www/`, its contents (`include_bytes!`) and a
//! hash for its ETag. Hidden files and `node_modules` are left out.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let www = manifest.join("..").join("www");
    // A directory: cargo reruns this when anything below it changes.
    println!("cargo:rerun-if-changed={}", www.display());
    let mut files = Vec::new();
    collect(&www, &www, &mut files);
    files.sort();
    let mut out = String::from("/// `www/` as it was at build time: (path under `www/`, contents, hash).\n");
    out.push_str("pub static FILES: &[(&str, &[u8], u64)] = &[\n");
    for (rel, abs) in &files {
        let bytes = std::fs::read(abs).unwrap_or_else(|e| panic!("{}: {e}", abs.display()));
        let _ = writeln!(out, "    ({rel:?}, include_bytes!({:?}), {:#x}),", abs.display().to_string(), fnv1a(&bytes));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("www_files.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
}

/// Regular files below `dir`, as (path relative to `root` with `/`, absolute path).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "node_modules" {
            continue;
        }
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect(root, &path, files),
            Ok(t) if t.is_file() => {
                let rel = path.strip_prefix(root).expect("below root");
                let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                files.push((rel.join("/"), path.canonicalize().unwrap_or(path)));
            }
            _ => {}
        }
    }
}

/// FNV-1a: enough to tell versions of a file apart for caching.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}
