//! The Runs page: every run folder under `--runs-dir` with its headline
//! numbers, and the files in it (its report first) served by plain name.

use std::path::Path;
use std::time::UNIX_EPOCH;

use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use casebook_core::report::escape;
use serde::Serialize;

use crate::error::ApiError;
use crate::models::is_plain_name;
use crate::pages::layout;
use crate::Studio;

/// Numbers shown per run.
const HEADLINE_NUMBERS: usize = 4;

#[derive(Debug, Serialize)]
pub struct RunSummary {
    name: String,
    /// Seconds since 1970 of the folder's last change.
    modified: u64,
    has_report: bool,
    has_model: bool,
    /// A few top-level numbers of its metrics (the last epoch's for a training).
    headline: Vec<(String, f64)>,
}

fn summaries(runs_dir: &Path) -> Vec<RunSummary> {
    let mut runs: Vec<RunSummary> = std::fs::read_dir(runs_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            is_plain_name(&name).then(|| summary(&entry.path(), name))
        })
        .collect();
    runs.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.name.cmp(&b.name)));
    runs
}

fn summary(dir: &Path, name: String) -> RunSummary {
    let modified = std::fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    RunSummary {
        name,
        modified,
        has_report: dir.join("report.html").is_file(),
        has_model: dir.join("model.casebook").is_file(),
        headline: headline(dir),
    }
}

/// Top-level numbers of `metrics.json` (an evaluation's), with those of its
/// `test` (a logistic regression's) and `at_threshold` (a trigger
/// evaluation's) parts, else of the last line of `metrics.jsonl` (a
/// training's last step).
fn headline(dir: &Path) -> Vec<(String, f64)> {
    let skip = ["step", "seconds", "learning_rate"];
    let numbers = |object: &serde_json::Map<String, serde_json::Value>| {
        object
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
            .collect::<Vec<_>>()
    };
    let metrics: Option<serde_json::Value> = std::fs::read_to_string(dir.join("metrics.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .or_else(|| {
            let text = std::fs::read_to_string(dir.join("metrics.jsonl")).ok()?;
            serde_json::from_str(text.lines().last()?).ok()
        });
    let Some(serde_json::Value::Object(object)) = metrics else {
        return Vec::new();
    };
    let mut found = Vec::new();
    // A training's test scores, a trigger evaluation's at its threshold,
    // before the top-level counts.
    for part in ["test", "at_threshold"] {
        if let Some(serde_json::Value::Object(inner)) = object.get(part) {
            found.extend(
                numbers(inner)
                    .into_iter()
                    .map(|(k, v)| (format!("{} {k}", part.replace('_', " ")), v)),
            );
        }
    }
    found.extend(numbers(&object));
    found.truncate(HEADLINE_NUMBERS);
    found
}

pub async fn list_json(State(studio): State<Studio>) -> Result<Json<Vec<RunSummary>>, ApiError> {
    let runs = studio.config().runs_dir.clone();
    studio.work(move |_| Ok(summaries(&runs))).await.map(Json)
}

pub async fn list_page(State(studio): State<Studio>) -> Result<Html<String>, ApiError> {
    let runs_dir = studio.config().runs_dir.clone();
    let runs = {
        let dir = runs_dir.clone();
        studio.work(move |_| Ok(summaries(&dir))).await?
    };
    let rows: String = runs
        .iter()
        .map(|run| {
            let name = escape(&run.name);
            let link = if run.has_report {
                format!("<a href=\"/runs/{name}/report.html\">{name}</a>")
            } else {
                name.clone()
            };
            let numbers: Vec<String> = run
                .headline
                .iter()
                .map(|(k, v)| format!("{} {}", escape(k), short(*v)))
                .collect();
            format!(
                "<tr data-run=\"{name}\"><td>{link}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                utc(run.modified),
                if run.has_model { "model" } else { "" },
                numbers.join(", ")
            )
        })
        .collect();
    let body = if runs.is_empty() {
        format!(
            "<p id=no-runs>No run folders in {} yet. Train or evaluate something (for example \
             <code>casebook demo</code>, or <code>casebook image train DATA</code>) and they appear here.</p>",
            escape(&runs_dir.display().to_string())
        )
    } else {
        format!(
            "<p>{} run folders in {}, newest first.</p><table id=runs><tr><th>run</th><th>changed (UTC)</th><th></th><th>headline</th></tr>{rows}</table>",
            runs.len(),
            escape(&runs_dir.display().to_string())
        )
    };
    Ok(Html(layout("Runs", &body)))
}

/// `YYYY-MM-DD HH:MM` (UTC) of seconds since 1970: the days become a date
/// by Howard Hinnant's `civil_from_days`.
pub(crate) fn utc(seconds: u64) -> String {
    let (days, rest) = ((seconds / 86_400) as i64, seconds % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rest / 3_600,
        rest % 3_600 / 60
    )
}

fn short(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e12 {
        format!("{x:.0}")
    } else {
        format!("{x:.4}")
    }
}

/// A file of a run folder, both named plainly; symbolic links are not followed.
pub async fn file(
    State(studio): State<Studio>,
    UrlPath((name, file)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    if !is_plain_name(&name) || !is_plain_name(&file) {
        return Err(ApiError::bad_request(
            "run and file names are plain names (letters, digits, - _ .)",
        ));
    }
    let content_type = match file.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "csv" => "text/csv; charset=utf-8",
        "json" | "jsonl" => "application/json",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    };
    let path = studio.config().runs_dir.join(&name).join(&file);
    let bytes = studio
        .work(move |_| {
            let plain = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
            if !plain {
                return Err(ApiError::not_found(format!("no file {file} in run {name}")));
            }
            std::fs::read(&path).map_err(|e| ApiError::internal(format!("cannot read it: {e}")))
        })
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc(1_796_397_722), "2026-12-04 15:22"); // as `date -u -d @1796397722`
        assert_eq!(utc(4_107_542_399), "2100-02-28 23:59");
    }
}
