//! File-system helpers: every file casebook writes goes through [`write_atomic`],
//! so a killed process never leaves a half-written model, manifest or report.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` by writing a temporary file beside it and renaming
/// it into place (rename is atomic on the same file system).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |file| Ok(file.write_all(bytes)?))
}

/// As [`write_atomic`], with the contents written by `write` as they are
/// made: for files too large to hold in memory. An error from `write` leaves
/// no file (and no temporary one).
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<fs::File>) -> Result<()>,
) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create folder {}", parent.display()))?;
    }
    let file_name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut file = std::io::BufWriter::new(fs::File::create(&tmp)?);
        write(&mut file)?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(fs::rename(&tmp, path)?)
    })();
    if let Err(err) = result {
        let _ = fs::remove_file(&tmp);
        // An I/O error here is about this file; the work's own errors say
        // what they are about.
        return match err.downcast::<std::io::Error>() {
            Ok(io) => Err(io).with_context(|| format!("cannot write {}", path.display())),
            Err(other) => Err(other),
        };
    }
    Ok(())
}

/// Makes the folder `out` with `work`, all or nothing: `work` fills a hidden
/// sibling folder, renamed to `out` when it succeeds and removed when it
/// fails, so a full disk or a bad input never leaves a partial dataset that
/// looks whole. `out` must not exist yet, or be an empty folder.
pub fn build_folder<T>(out: &Path, work: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    if out.exists() {
        let empty = out.is_dir()
            && fs::read_dir(out)
                .with_context(|| format!("cannot read folder {}", out.display()))?
                .next()
                .is_none();
        anyhow::ensure!(
            empty,
            "{} already exists and is not an empty folder; choose a new folder or delete it",
            out.display()
        );
    }
    let name = out
        .file_name()
        .with_context(|| format!("{} is not a folder path", out.display()))?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent)
        .with_context(|| format!("cannot create folder {}", parent.display()))?;
    let tmp = parent.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).with_context(|| format!("cannot create folder {}", tmp.display()))?;
    let finished = work(&tmp).and_then(|value| {
        if out.exists() {
            fs::remove_dir(out).with_context(|| format!("cannot replace {}", out.display()))?;
        }
        fs::rename(&tmp, out)
            .with_context(|| format!("cannot move the new folder to {}", out.display()))?;
        Ok(value)
    });
    if finished.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    finished
}

/// Refuses to write `out` when it is the file `input` (under any name): the
/// output would destroy what is being read.
pub fn ensure_not_input(input: &Path, out: &Path) -> Result<()> {
    if let (Ok(read), Ok(written)) = (input.canonicalize(), out.canonicalize()) {
        anyhow::ensure!(
            read != written,
            "{} is the input {}; write the output to another file",
            out.display(),
            input.display()
        );
    }
    Ok(())
}

/// Serialises `value` as pretty JSON and writes it atomically.
/// Writes `records` as CSV after the line `header` (there also when there
/// are no records), atomically.
pub fn write_csv<T: serde::Serialize>(path: &Path, header: &[&str], records: &[T]) -> Result<()> {
    write_atomic_with(path, |file| {
        let mut csv = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        csv.write_record(header)?;
        for record in records {
            csv.serialize(record)?;
        }
        csv.flush()?;
        Ok(())
    })
}

pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Reads and parses a JSON file, naming the file in any error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON for this", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder appears whole or not at all: a failing build leaves nothing
    /// (not even its hidden work folder), a folder with files is refused.
    #[test]
    fn build_folder_is_all_or_nothing() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("set");
        let err = build_folder(&out, |dir| -> Result<()> {
            write_atomic(&dir.join("a.txt"), b"1")?;
            anyhow::bail!("disk full")
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
        let files = build_folder(&out, |dir| {
            write_atomic(&dir.join("a.txt"), b"1")?;
            Ok(1)
        })
        .unwrap();
        assert_eq!(files, 1);
        assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"1");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        let err = build_folder(&out, |_| Ok(())).unwrap_err().to_string();
        assert!(err.contains("not an empty folder"), "{err}");
        // An empty folder (made by the user beforehand) is filled.
        let empty = root.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        build_folder(&empty, |dir| write_atomic(&dir.join("b.txt"), b"2")).unwrap();
        assert!(empty.join("b.txt").is_file());
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "temporary file left behind");
    }
}
