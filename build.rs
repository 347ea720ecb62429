//! Build script: makes the playground and chat pages part of the binary.
//!
//! The pages' sources are in `playground/` (npm packages, bundled by esbuild
//! into `playground/dist/`). When `dist/` is missing or older than the
//! sources and `npm` is on the PATH, this runs `npm ci` (only when
//! `node_modules/` is missing or older than the lockfile) and `npm run
//! build` there. Whatever `dist/` then holds is embedded with
//! `include_bytes!` through a generated table in `OUT_DIR` that
//! `src/http/assets.rs` serves.
//!
//! npm never decides whether the server builds: when it is absent or fails,
//! a `cargo:warning` says so and the table is empty, so `cargo clippy` and
//! `cargo test` still work and `/playground` says how to build the pages.
//! Cargo reruns this script only when the sources or `dist/` change, so
//! npm is not asked on every build. `WAYFARER_SKIP_NPM=1` embeds `dist/` as
//! it is without running npm.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::Hasher as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let playground = manifest.join("playground");
    let dist = playground.join("dist");
    // The sources. `dist/` always exists (it keeps a committed .gitignore),
    // so watching it costs nothing when it is empty and notices a build made
    // by hand.
    for watched in ["package.json", "package-lock.json", "build.mjs", "src", "dist"] {
        println!("cargo:rerun-if-changed=playground/{watched}");
    }
    println!("cargo:rerun-if-env-changed=WAYFARER_SKIP_NPM");

    let skip_npm = std::env::var_os("WAYFARER_SKIP_NPM").is_some_and(|v| !v.is_empty() && v != "0");
    if !skip_npm
        && is_stale(&playground)
        && let Err(problem) = build_pages(&playground)
    {
        warn(&format!("the playground and chat pages are not built into this binary: {problem}"));
        warn("install Node 20 and npm and build again, or run `npm ci && npm run build` in playground/");
    }

    let mut files = Vec::new();
    if dist.join("BUILT").is_file() {
        collect(&dist, &dist, &mut files);
        files.sort();
    }
    let mut table = String::from("&[\n");
    for (name, path) in &files {
        let bytes = std::fs::read(path).unwrap_or_default();
        let mut hasher = DefaultHasher::new();
        hasher.write(&bytes);
        let etag = format!("\"{:016x}-{:x}\"", hasher.finish(), bytes.len());
        let _ = writeln!(table, "    ({name:?}, include_bytes!({:?}), {etag:?}),", path.display().to_string());
    }
    table.push_str("]\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("playground_assets.rs");
    if let Err(error) = std::fs::write(&out, table) {
        panic!("cannot write {}: {error}", out.display());
    }
}

/// `dist/` is missing, or a source is newer than the last build.
fn is_stale(playground: &Path) -> bool {
    let Some(built) = modified(&playground.join("dist/BUILT")) else { return true };
    let mut newest = SystemTime::UNIX_EPOCH;
    for source in ["package.json", "package-lock.json", "build.mjs", "src"] {
        newest = newest.max(newest_in(&playground.join(source)));
    }
    newest > built
}

fn build_pages(playground: &Path) -> Result<(), String> {
    let installed = modified(&playground.join("node_modules/.package-lock.json"));
    let locked = modified(&playground.join("package-lock.json")).max(modified(&playground.join("package.json")));
    if installed.is_none() || installed < locked {
        npm(playground, &["ci", "--no-audit", "--no-fund", "--loglevel=error"])?;
    }
    npm(playground, &["run", "build", "--silent"])
}

/// Runs npm in `dir`; its output is kept off stdout, which cargo reads.
fn npm(dir: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|error| format!("`npm {}` did not start ({error})", args.join(" ")))?;
    eprint!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).rev().take(6).collect();
    for line in tail.iter().rev() {
        warn(&format!("npm: {line}"));
    }
    Err(format!("`npm {}` failed ({})", args.join(" "), output.status))
}

fn warn(message: &str) {
    println!("cargo:warning={message}");
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file, or of anything under a directory.
fn newest_in(path: &Path) -> SystemTime {
    let own = modified(path).unwrap_or(SystemTime::UNIX_EPOCH);
    let Ok(entries) = std::fs::read_dir(path) else { return own };
    entries.flatten().map(|entry| newest_in(&entry.path())).fold(own, SystemTime::max)
}

/// Every file under `dir` but the build's own markers, with its path
/// relative to `root` (`/`-separated).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
            continue;
        }
        let Ok(relative) = path.strip_prefix(root) else { continue };
        let name = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        if name != "BUILT" && name != ".gitignore" {
            files.push((name, path));
        }
    }
}
