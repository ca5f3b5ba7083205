//! Helpers shared by the CLI end-to-end tests.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub fn casebook(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_casebook"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("casebook runs")
}

pub fn ok(args: &[&str], cwd: &Path) -> String {
    let out = casebook(args, cwd);
    assert!(
        out.status.success(),
        "casebook {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Asserts a clean failure: non-zero exit, one `error:` line, no panic.
pub fn fails(args: &[&str], cwd: &Path) -> String {
    let out = casebook(args, cwd);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "casebook {args:?} should fail");
    assert!(
        !stderr.contains("panicked"),
        "casebook {args:?} panicked:\n{stderr}"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "want one error line, got:\n{stderr}");
    errors[0].to_string()
}

/// Generates a day/night dataset at `dir/name` (`count` images, `night_fraction`
/// night) with `casebook data daynight`; returns its path.
pub fn daynight(
    dir: &Path,
    name: &str,
    count: usize,
    night_fraction: f64,
    seed: u64,
) -> std::path::PathBuf {
    let data = dir.join(name);
    let (count, fraction, seed) = (
        count.to_string(),
        night_fraction.to_string(),
        seed.to_string(),
    );
    let args = [
        "data",
        "daynight",
        "--out-dir",
        data.to_str().unwrap(),
        "--count",
        &count,
        "--night-fraction",
        &fraction,
        "--seed",
        &seed,
        "--quiet",
    ];
    ok(&args, dir);
    data
}
