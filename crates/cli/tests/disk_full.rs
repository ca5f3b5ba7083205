//! A full disk, on a small tmpfs: every command names the file it could not
//! write and leaves nothing partial behind (issue 16, item 8). Mounting needs
//! root; elsewhere the test says why it did not run.

mod common;

use common::fails;
use std::path::Path;
use std::process::Command;

/// A 384 KB tmpfs mounted for the test's lifetime.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=384k", "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Self(dir))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn a_full_disk_names_the_file_and_leaves_nothing_partial() {
    let disk = match SmallDisk::mount() {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipped: cannot mount a small tmpfs here ({why})");
            return;
        }
    };
    let d = disk.path();
    let dataset = d.join("scenes");
    let err = fails(
        &[
            "data",
            "daynight",
            "--out-dir",
            dataset.to_str().unwrap(),
            "--count",
            "300",
        ],
        d,
    );
    assert!(
        err.contains("No space left") && err.contains(".png"),
        "{err}"
    );
    let clips = d.join("clips");
    let err = fails(
        &[
            "trigger",
            "synth",
            "--out-dir",
            clips.to_str().unwrap(),
            "--count",
            "30",
        ],
        d,
    );
    assert!(
        err.contains("No space left") && err.contains(".wav"),
        "{err}"
    );
    assert_eq!(
        entries(d),
        Vec::<String>::new(),
        "partial folders were left"
    );

    // A training whose first checkpoint does not fit leaves no run folder.
    let elsewhere = tempfile::tempdir().unwrap();
    let scenes = common::daynight(elsewhere.path(), "scenes", 24, 0.5, 3);
    let runs = d.join("runs");
    let err = fails(
        &[
            "image",
            "train",
            scenes.to_str().unwrap(),
            "--epochs",
            "1",
            "--resolution",
            "128",
            "--runs-dir",
            runs.to_str().unwrap(),
        ],
        d,
    );
    assert!(
        err.contains("No space left") && err.contains(d.to_str().unwrap()),
        "{err}"
    );
    assert_eq!(
        entries(&runs),
        Vec::<String>::new(),
        "a failed run was left"
    );
    std::fs::remove_dir(&runs).unwrap();

    // The human page: its key goes when the page cannot be written.
    std::fs::create_dir(d.join("page")).unwrap();
    let page = d.join("page").join("page.html");
    let err = fails(
        &["trigger", "human-page", "--out", page.to_str().unwrap()],
        d,
    );
    assert!(
        err.contains("page.html") && err.contains("No space left"),
        "{err}"
    );
    assert_eq!(entries(&d.join("page")), Vec::<String>::new());
    assert_eq!(
        entries(&d.join("runs")),
        Vec::<String>::new(),
        "the study's run folder was left"
    );
}
