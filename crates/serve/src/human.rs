//! Human baselines in the studio: the image-resolution and trigger
//! sample-rate studies made as jobs (the same library calls as `image
//! resolution-study --human-page` and `trigger human-page`), their pages
//! served from the study's run folder, and the answers a person gives there
//! sent back, kept beside the key and scored into the study's report (as
//! `human-baseline` does). The page never sees the labels, and the key is
//! always the one in the run folder, whatever path the answers name.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::Json;
use casebook_core::human::{self, HumanAnswers, HumanKey, HumanScore};
use casebook_core::report::escape;
use serde::{Deserialize, Serialize};

use crate::api::upload;
use crate::error::ApiError;
use crate::jobs::{self, Job, JobState, Work};
use crate::models::is_plain_name;
use crate::pages::layout;
use crate::Studio;

/// The page a study writes into its run folder (for the studio to serve).
const PAGE_FILE: &str = "human-page.html";
/// The answer key the studies write beside it.
const KEY_FILE: &str = "human-key.json";
/// The answers the studio keeps.
const ANSWERS_FILE: &str = "human-answers.json";

/// A study in the runs folder.
struct Study {
    run: String,
    kind: String,
    questions: usize,
    answered: bool,
}

fn studies(runs_dir: &std::path::Path) -> Vec<Study> {
    let mut found: Vec<(std::time::SystemTime, Study)> = std::fs::read_dir(runs_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let run = entry.file_name().to_str()?.to_string();
            let dir = entry.path();
            if !is_plain_name(&run) || !dir.join(PAGE_FILE).is_file() {
                return None;
            }
            let key: HumanKey = casebook_core::fsx::read_json(&dir.join(KEY_FILE)).ok()?;
            let when = std::fs::metadata(&dir).and_then(|m| m.modified()).ok()?;
            Some((
                when,
                Study {
                    run,
                    kind: key.study.unwrap_or_else(|| "human baseline".into()),
                    questions: key.questions.len(),
                    answered: dir.join(ANSWERS_FILE).is_file(),
                },
            ))
        })
        .collect();
    found.sort_by_key(|(when, _)| std::cmp::Reverse(*when));
    found.into_iter().map(|(_, s)| s).collect()
}

/// The Human baseline page: the studies there are, and forms for new ones.
pub async fn list_page(State(studio): State<Studio>) -> Result<Html<String>, ApiError> {
    let runs_dir = studio.config().runs_dir.clone();
    let studies = studio.work(move |_| Ok(studies(&runs_dir))).await?;
    let rows: String = studies
        .iter()
        .map(|s| {
            let run = escape(&s.run);
            format!(
                "<tr class=study><td><a href=\"/human/{run}\">{}</a></td><td>{run}</td><td class=num>{}</td><td>{}</td></tr>",
                escape(&s.kind),
                s.questions,
                if s.answered {
                    format!("scored: <a href=\"/runs/{run}/report.html\">report</a>")
                } else {
                    "not yet answered".into()
                }
            )
        })
        .collect();
    let table = if studies.is_empty() {
        "<p>No study with a page yet: make one below.</p>".to_string()
    } else {
        format!("<table id=studies><thead><tr><th>study (open its page)</th><th>run</th><th>questions</th><th>answers</th></tr></thead><tbody>{rows}</tbody></table>")
    };
    Ok(Html(layout(
        "Human baseline",
        &format!(
            "{}{table}{}",
            include_str!("../assets/human-intro.html"),
            include_str!("../assets/human.html")
        ),
    )))
}

/// A study's page, as the study wrote it.
pub async fn study_page(
    State(studio): State<Studio>,
    Path(run): Path<String>,
) -> Result<Html<String>, ApiError> {
    let dir = study_dir(&studio, &run)?;
    let html = studio
        .work(move |_| {
            std::fs::read_to_string(dir.join(PAGE_FILE))
                .map_err(|_| ApiError::not_found(format!("run {run} has no human page")))
        })
        .await?;
    Ok(Html(html))
}

fn study_dir(studio: &Studio, run: &str) -> Result<std::path::PathBuf, ApiError> {
    if !is_plain_name(run) {
        return Err(ApiError::bad_request(
            "a study is named by its run folder's plain name",
        ));
    }
    Ok(studio.config().runs_dir.join(run))
}

#[derive(Debug, Serialize)]
pub struct Scored {
    scores: Vec<HumanScore>,
    /// One line: human and model accuracy per condition.
    summary: String,
    report: Option<String>,
}

/// Keeps a person's answers beside the study's key and scores them into
/// the study's report.
pub async fn answers(
    State(studio): State<Studio>,
    Path(run): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Scored>, ApiError> {
    let dir = study_dir(&studio, &run)?;
    let bytes = upload(body, studio.config().max_upload)?;
    let answers: HumanAnswers = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "send the page's answers ({{\"answers\": {{...}}}}): {e}"
        ))
    })?;
    studio
        .work(move |_| {
            let key_path = dir.join(KEY_FILE);
            let key: HumanKey = casebook_core::fsx::read_json(&key_path).map_err(|_| {
                ApiError::not_found(format!("run {run} is not a study with a human page"))
            })?;
            if let Some(stray) = answers
                .answers
                .keys()
                .find(|id| !key.questions.contains_key(*id))
            {
                return Err(ApiError::unprocessable(format!(
                    "question {stray:?} is not on this study's page"
                )));
            }
            let fail = |e: anyhow::Error| ApiError::internal(format!("{e:#}"));
            casebook_core::fsx::write_json(&dir.join(ANSWERS_FILE), &answers).map_err(fail)?;
            let (scores, report) =
                human::score_into_report(&answers, &key, &key_path).map_err(fail)?;
            let condition = human::condition_name(key.study.as_deref());
            let summary = scores
                .iter()
                .map(|s| {
                    format!(
                        "{condition} {}: {:.0} %{}",
                        s.condition,
                        100.0 * s.human_accuracy,
                        s.model_accuracy
                            .map_or(String::new(), |m| format!(" (model {:.0} %)", 100.0 * m))
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            Ok(Scored {
                scores,
                summary,
                report: report.map(|_| format!("/runs/{run}/report.html")),
            })
        })
        .await
        .map(Json)
}

/// `?count=N` clips per rate (trigger) or photos per resolution (image),
/// and for the image study `&resolutions=16,32,64&epochs=N`.
#[derive(Debug, Deserialize)]
pub struct StudyQuery {
    count: Option<usize>,
    #[serde(default)]
    resolutions: String,
    epochs: Option<usize>,
}

/// Most questions per condition: a page a person can answer in a sitting.
const MAX_PER_CONDITION: usize = 100;

fn per_condition(query: &StudyQuery, default: usize) -> Result<usize, ApiError> {
    match query.count.unwrap_or(default) {
        n @ 1..=MAX_PER_CONDITION => Ok(n),
        n => Err(ApiError::bad_request(format!(
            "count is 1 to {MAX_PER_CONDITION} per condition, not {n}"
        ))),
    }
}

/// The trigger sample-rate study with the built-in model, as `casebook
/// trigger human-page` makes it.
pub async fn trigger_study(
    State(studio): State<Studio>,
    Query(query): Query<StudyQuery>,
) -> Result<(StatusCode, Json<JobState>), ApiError> {
    use casebook_trigger::infer::TriggerModel;
    use casebook_trigger::study::{rate_study, HUMAN_STUDY};
    const RATES: [u32; 4] = [4000, 8000, 16000, 44100];
    let count = per_condition(&query, 10)?;
    let runs_dir = studio.config().runs_dir.clone();
    let work: Work = Box::new(move |job: &Job| {
        let model = TriggerModel::open(casebook_core::model_file::BUILTIN)?;
        let run = casebook_core::run::RunDir::create(&runs_dir, None, "trigger-human-page")?;
        let name = jobs::run_name(&run);
        job.update(|s| s.run = Some(name.clone()));
        let config = serde_json::json!({
            "study": HUMAN_STUDY, "model": "builtin", "rates": RATES, "count": count, "word": model.word,
        });
        job.update(|s| s.phase = "drawing and scoring clips".into());
        run.start(&config, |run| {
            let page = run.path().join(PAGE_FILE);
            rate_study(&run, &page, &model, &RATES, count, &model.word, 0)
        })?;
        Ok(name)
    });
    let title = format!("sample-rate study, {count} clips per rate");
    let job = studio.inner.jobs.submit("human-study", title, work)?;
    Ok((StatusCode::ACCEPTED, Json(job.state())))
}

/// The image resolution study on an uploaded folder (one sub-folder per
/// class), as `casebook image resolution-study DIR --human-page` makes it:
/// a model per resolution, and the page of test photos at each.
pub async fn image_study(
    State(studio): State<Studio>,
    Query(query): Query<StudyQuery>,
    multipart: Multipart,
) -> Result<(StatusCode, Json<JobState>), ApiError> {
    use casebook_image::train::TrainConfig;
    let count = per_condition(&query, 20)?;
    let resolutions: Vec<u32> = if query.resolutions.trim().is_empty() {
        vec![16, 32, 64]
    } else {
        query
            .resolutions
            .split(',')
            .map(|r| r.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| ApiError::bad_request("resolutions are whole numbers, e.g. 16,32,64"))?
    };
    let base = TrainConfig {
        epochs: query.epochs.unwrap_or(10),
        ..TrainConfig::default()
    };
    for &resolution in &resolutions {
        use casebook_core::run::Training;
        TrainConfig {
            resolution,
            ..base.clone()
        }
        .validate()
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    }
    if resolutions.is_empty() || resolutions.len() > 6 {
        return Err(ApiError::bad_request(
            "give 1 to 6 resolutions, e.g. 16,32,64",
        ));
    }
    let limits = jobs::folder_limits(&studio, jobs::IMAGE_EXTENSIONS, true);
    jobs::submit_folder_job(
        &studio,
        "human-study",
        "image-resolution-study",
        multipart,
        limits,
        |received| format!("resolution study on {} photos", received.files.len()),
        Box::new(move |run, data, _received, job| {
            let base = TrainConfig { data, ..base };
            let page = run.path().join(PAGE_FILE);
            casebook_image::study::resolution_study(
                &run,
                &base,
                &resolutions,
                Some((&page, count)),
                job,
            )?;
            Ok(())
        }),
    )
    .await
}
