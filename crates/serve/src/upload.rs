//! Folder uploads for the jobs whose data is a folder (image training, face
//! clustering and enrolment): the page sends the files of a folder the
//! person picked as `multipart/form-data`, each part's file name being its
//! path inside that folder (`day/IMG_0001.jpg`).
//!
//! No client path reaches the filesystem: a file is stored under a
//! server-made name (`00017.jpg`, its extension checked against what the
//! job reads) inside at most one sub-folder, whose name is the file's label
//! (a class or a person) and must be a plain label ([`is_label`]). Files
//! are streamed to disk, each capped at the upload limit and the whole
//! folder at the folder limit.

use std::path::{Path, PathBuf};

use axum::extract::multipart::{Field, Multipart, MultipartError};
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;

/// Files one folder upload may hold.
const MAX_FILES: usize = 50_000;

/// A folder received from the page.
#[derive(Debug, Default)]
pub struct Received {
    /// Each file as the page named it, and where it was stored (relative
    /// to the folder).
    pub files: Vec<(String, PathBuf)>,
    /// Files left out, with the reason (not a type the job reads).
    pub skipped: Vec<(String, String)>,
    pub bytes: u64,
}

/// What a folder upload may hold and how much.
pub struct Limits {
    /// Extensions (lower case, without the dot) the job reads.
    pub extensions: &'static [&'static str],
    pub per_file: usize,
    pub total: u64,
    /// Whether files must sit in a labelled sub-folder (`class/file`).
    pub labelled: bool,
}

/// A sub-folder name as the studio keeps it: letters (any script), digits,
/// spaces, `-`, `_` and `.`, not starting with a dot or a space, at most
/// 100 characters. It is one path component, so it can never climb out.
pub fn is_label(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 100
        && !name.starts_with(['.', ' '])
        && !name.ends_with(' ')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
}

/// Reads every part of `multipart` into `folder` (which exists), as the
/// module explains.
pub async fn receive(
    mut multipart: Multipart,
    folder: &Path,
    limits: &Limits,
) -> Result<Received, ApiError> {
    let mut received = Received::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(&e, limits))?
    {
        let Some(sent) = field.file_name().map(str::to_string) else {
            continue;
        };
        let (label, name) = split_name(&sent, limits.labelled)?;
        let extension = Path::new(&name)
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if !limits.extensions.contains(&extension.as_str()) {
            received
                .skipped
                .push((sent, format!("not a {} file", limits.extensions.join("/"))));
            continue;
        }
        if received.files.len() >= MAX_FILES {
            return Err(ApiError::too_large_folder(format!(
                "the folder has more than {MAX_FILES} files"
            )));
        }
        let stored = label
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(format!("{:05}.{extension}", received.files.len() + 1));
        let path = folder.join(&stored);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| ApiError::internal(format!("cannot keep the upload: {e}")))?;
        }
        let bytes = store(field, &path, &sent, limits, received.bytes).await?;
        received.bytes += bytes;
        received.files.push((sent, stored));
    }
    if received.files.is_empty() {
        let why = match received.skipped.first() {
            Some((name, reason)) => format!(" ({name}: {reason})"),
            None => String::new(),
        };
        return Err(ApiError::bad_request(format!(
            "the upload holds no {} file{why}",
            limits.extensions.join("/")
        )));
    }
    Ok(received)
}

/// `label/name` or `name` as sent; deeper paths keep their last folder as
/// the label (a picked folder's own name is the page's to strip).
fn split_name(sent: &str, labelled: bool) -> Result<(Option<String>, String), ApiError> {
    let parts: Vec<&str> = sent.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
    let (label, name) = match parts.as_slice() {
        [] => return Err(ApiError::bad_request("a file in the upload has no name")),
        [name] => (None, name.to_string()),
        [.., label, name] => (Some(label.to_string()), name.to_string()),
    };
    match &label {
        Some(label) if !is_label(label) => Err(ApiError::bad_request(format!(
            "folder name {label:?} (of {sent}) is not one the studio keeps: use letters, digits, spaces, - _ and ."
        ))),
        None if labelled => Err(ApiError::bad_request(format!(
            "{sent} is not in a sub-folder: pick a folder with one sub-folder per class (or per person)"
        ))),
        _ => Ok((label, name)),
    }
}

async fn store(
    mut field: Field<'_>,
    path: &Path,
    sent: &str,
    limits: &Limits,
    so_far: u64,
) -> Result<u64, ApiError> {
    let keep = |e: std::io::Error| ApiError::internal(format!("cannot keep the upload: {e}"));
    let mut file = tokio::fs::File::create(path).await.map_err(keep)?;
    let mut bytes = 0u64;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| multipart_error(&e, limits))?
    {
        bytes += chunk.len() as u64;
        if bytes > limits.per_file as u64 {
            return Err(ApiError::too_large_file(sent, limits.per_file));
        }
        if so_far + bytes > limits.total {
            return Err(ApiError::too_large_folder(format!(
                "the folder is larger than {} MB",
                limits.total.div_ceil(1 << 20)
            )));
        }
        file.write_all(&chunk).await.map_err(keep)?;
    }
    file.flush().await.map_err(keep)?;
    Ok(bytes)
}

fn multipart_error(e: &MultipartError, limits: &Limits) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large_folder(format!(
            "the folder is larger than {} MB",
            limits.total.div_ceil(1 << 20)
        ))
    } else {
        ApiError::bad_request(format!(
            "the upload is not a readable folder: {}",
            e.body_text()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_one_plain_component() {
        for good in ["day", "night", "Jean-Luc Picard", "a.b_c", "Zoë", "東京"] {
            assert!(is_label(good), "{good}");
        }
        for bad in [
            "", ".", "..", ".hidden", " x", "x ", "a/b", "a\\b", "x\0y", "a:b",
        ] {
            assert!(!is_label(bad), "{bad:?}");
        }
        assert!(!is_label(&"x".repeat(101)));
    }

    #[test]
    fn names_keep_only_their_label() {
        assert_eq!(
            split_name("day/IMG 1.jpg", true).unwrap(),
            (Some("day".into()), "IMG 1.jpg".into())
        );
        assert_eq!(
            split_name("photos/night/a.png", true).unwrap(),
            (Some("night".into()), "a.png".into())
        );
        assert_eq!(split_name("a.png", false).unwrap(), (None, "a.png".into()));
        assert_eq!(split_name("a.png", true).unwrap_err().status, 400);
        assert_eq!(split_name("../x.png", true).unwrap_err().status, 400);
        assert_eq!(split_name("", false).unwrap_err().status, 400);
    }
}
