//! Builds the web console (`web/`, a Vite app) into `$OUT_DIR/console`, which
//! `src/api/console.rs` embeds in the binary. Without npm, or with
//! `SV_SKIP_CONSOLE_BUILD=1` (to build the Rust side alone while the console is being
//! edited), a page that says how to build the console is embedded instead.

use std::path::{Path, PathBuf};
use std::process::Command;

const WATCHED: &[&str] = &[
    "web/src",
    "web/index.html",
    "web/package.json",
    "web/package-lock.json",
    "web/vite.config.ts",
    "web/tsconfig.json",
];

fn main() {
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("console");
    println!("cargo:rerun-if-env-changed=SV_SKIP_CONSOLE_BUILD");
    // `sqlx::migrate!` embeds migrations/ when the crate compiles: a new migration file
    // must rebuild it, or an incremental build ships the old set.
    println!("cargo:rerun-if-changed=migrations");
    // A path that does not exist would make Cargo run this script on every build.
    for path in WATCHED.iter().filter(|p| Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={path}");
    }

    let web = Path::new("web");
    let skip = std::env::var("SV_SKIP_CONSOLE_BUILD").is_ok_and(|v| v == "1");
    if skip || !web.join("package.json").is_file() || !npm_available() {
        let reason = if skip {
            "SV_SKIP_CONSOLE_BUILD=1"
        } else {
            "npm is not available"
        };
        println!(
            "cargo:warning=web console not built ({reason}): the binary serves a page saying how to build it"
        );
        write_placeholder(&out);
        return;
    }
    if !web.join("node_modules").is_dir() {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(web));
    }
    run(Command::new("npm")
        .args(["run", "build", "--", "--emptyOutDir", "--outDir"])
        .arg(&out)
        .current_dir(web));
}

fn npm_available() -> bool {
    Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs an npm step; a console that fails to build fails the build (with npm present,
/// a binary without its console would be a surprise).
fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("could not run {command:?}: {e}"));
    assert!(status.success(), "{command:?} failed ({status})");
}

fn write_placeholder(out: &Path) {
    // A previous build's assets must not outlive it.
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).expect("create the console directory");
    let page = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SecurityVision</title></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>SecurityVision</h1>
<p>This binary was built without its web console (npm was not available, or
<code>SV_SKIP_CONSOLE_BUILD=1</code> was set). Install Node.js and npm and run
<code>cargo build --release</code> again to include it.</p>
<p>The API is at <a href="/api/v1/openapi.json">/api/v1</a>; its documentation at
<a href="/docs">/docs</a>.</p>
</body></html>
"#;
    std::fs::write(out.join("index.html"), page).expect("write the placeholder console");
}
