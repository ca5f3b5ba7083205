//! The jobs the case pages start (the style transfer and the human studies
//! have their own modules): logistic regression on an uploaded CSV, and on
//! an uploaded folder an image classifier, face grouping and a face
//! gallery. Each runs the same library call as its command.

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use casebook_core::observe::Observer;
use casebook_core::run::RunDir;
use serde::{Deserialize, Serialize};

use crate::api::{check_type, check_upsample, one, upload};
use crate::error::ApiError;
use crate::jobs::{
    folder_limits, run_name, submit_folder_job, without_path, Job, JobState, Work, IMAGE_EXTENSIONS,
};
use crate::Studio;

/// `?target=COLUMN&ignore=A,B` for a logistic-regression training.
#[derive(Debug, Deserialize)]
pub struct LogregTrainQuery {
    #[serde(default)]
    target: String,
    #[serde(default)]
    ignore: String,
}

/// Trains a logistic regression on the uploaded CSV, as `casebook logreg
/// train CSV --target T --ignore A,B` would, into a new run folder.
pub async fn logreg_train(
    State(studio): State<Studio>,
    Query(query): Query<LogregTrainQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<JobState>), ApiError> {
    check_type(&headers, crate::api::CSV_TYPES, "a CSV file")?;
    let bytes = upload(body, studio.config().max_upload)?;
    if query.target.trim().is_empty() {
        return Err(ApiError::bad_request(
            "say which column to predict (target)",
        ));
    }
    let runs_dir = studio.config().runs_dir.clone();
    let temp_dir = studio.config().temp_dir.clone();
    let title = format!("logistic regression for {}", query.target);
    let work: Work = Box::new(move |job: &Job| {
        let folder = tempfile::Builder::new()
            .prefix("casebook-serve-")
            .tempdir_in(&temp_dir)?;
        let data: PathBuf = folder.path().join("upload.csv");
        std::fs::write(&data, &bytes)?;
        let config = casebook_logreg::train::TrainConfig {
            data: data.clone(),
            targets: vec![query.target.trim().to_string()],
            ignore: query
                .ignore
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect(),
            ..Default::default()
        };
        let run = RunDir::create(&runs_dir, None, "logreg-train")?;
        let name = run_name(&run);
        job.update(|s| s.run = Some(name.clone()));
        casebook_logreg::train::train(&config, run, job)
            .map_err(|e| without_path(e, &data, "the upload"))?;
        Ok(name)
    });
    let job = studio.inner.jobs.submit("logreg-train", title, work)?;
    Ok((StatusCode::ACCEPTED, Json(job.state())))
}

/// `?epochs=N&resolution=PX&seed=S` for an image classifier.
#[derive(Debug, Deserialize)]
pub struct ImageTrainQuery {
    epochs: Option<usize>,
    resolution: Option<u32>,
    seed: Option<u64>,
}

/// Trains an image classifier on an uploaded folder with one sub-folder
/// per class, as `casebook image train DIR` does; the photos are kept in
/// the run folder (`data/`), so the run can be resumed from the CLI.
pub async fn image_train(
    State(studio): State<Studio>,
    Query(query): Query<ImageTrainQuery>,
    multipart: Multipart,
) -> Result<(StatusCode, Json<JobState>), ApiError> {
    use casebook_core::run::Training;
    let defaults = casebook_image::train::TrainConfig::default();
    let mut config = casebook_image::train::TrainConfig {
        epochs: query.epochs.unwrap_or(defaults.epochs),
        resolution: query.resolution.unwrap_or(defaults.resolution),
        seed: query.seed.unwrap_or(defaults.seed),
        ..defaults
    };
    config
        .validate()
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let limits = folder_limits(&studio, IMAGE_EXTENSIONS, true);
    submit_folder_job(
        &studio,
        "image-train",
        "image-train",
        multipart,
        limits,
        |received| format!("image classifier on {} photos", received.files.len()),
        Box::new(move |run, data, _received, job| {
            config.data = data;
            let outcome = config.train(run, job)?;
            job.update(|s| {
                s.reading = format!("test accuracy {:.1} %", 100.0 * outcome.test.accuracy)
            });
            Ok(())
        }),
    )
    .await
}

/// `?method=graph|auto|k&k=N&upsample=U` for grouping faces.
#[derive(Debug, Deserialize)]
pub struct ClusterQuery {
    #[serde(default)]
    method: String,
    k: Option<usize>,
    #[serde(default = "one")]
    upsample: usize,
}

/// Groups the faces of an uploaded folder by person, as `casebook face
/// cluster DIR` does (with sub-folders per person, the groups are scored
/// against them); the report shows each group.
pub async fn face_cluster(
    State(studio): State<Studio>,
    Query(query): Query<ClusterQuery>,
    multipart: Multipart,
) -> Result<(StatusCode, Json<JobState>), ApiError> {
    use casebook_faces::infer::group::{cluster_folder, ClusterConfig, Method};
    let method = match (query.method.as_str(), query.k) {
        ("" | "graph", _) => Method::Graph,
        ("auto", _) => Method::KMeansAuto,
        ("k", Some(k)) if (2..=1000).contains(&k) => Method::KMeans(k),
        ("k", _) => return Err(ApiError::bad_request("k-means needs k, from 2 to 1000")),
        (other, _) => {
            return Err(ApiError::bad_request(format!(
                "method is graph, auto or k, not {other:?}"
            )))
        }
    };
    check_upsample(query.upsample)?;
    let limits = folder_limits(&studio, IMAGE_EXTENSIONS, false);
    submit_folder_job(
        &studio,
        "face-cluster",
        "face-cluster",
        multipart,
        limits,
        |received| format!("faces of {} photos grouped", received.files.len()),
        Box::new(move |run, data, received, job| {
            let labelled = received
                .files
                .iter()
                .all(|(_, stored)| stored.components().count() == 2);
            let config = ClusterConfig {
                folder: data,
                method,
                truth: labelled,
                threshold: None,
                upsample: query.upsample,
                model: casebook_core::model_file::BUILTIN.into(),
                restarts: 10,
                seed: 0,
            };
            let outcome = cluster_folder(&config, run, job)?;
            let groups = outcome.groups.iter().max().map_or(0, |g| g + 1);
            job.update(|s| {
                s.reading = format!(
                    "{} faces in {groups} group{}",
                    outcome.faces.len(),
                    if groups == 1 { "" } else { "s" }
                )
            });
            Ok(())
        }),
    )
    .await
}

/// `?upsample=U` for enrolment.
#[derive(Debug, Deserialize)]
pub struct EnrollQuery {
    #[serde(default = "one")]
    upsample: usize,
}

/// What an enrolment run records as its `config.json`.
#[derive(Debug, Serialize)]
struct EnrollRecord {
    encoder: &'static str,
    upsample: usize,
    photos: usize,
}

/// Enrols everyone in an uploaded folder with one sub-folder per person
/// into a new gallery, as `casebook face enroll GALLERY --people DIR`
/// does; the gallery is the run's `model.casebook`, offered for
/// identification.
pub async fn face_enroll(
    State(studio): State<Studio>,
    Query(query): Query<EnrollQuery>,
    multipart: Multipart,
) -> Result<(StatusCode, Json<JobState>), ApiError> {
    use casebook_faces::gallery::Gallery;
    use casebook_faces::infer::enroll::{enroll_people, people_folders};
    use casebook_faces::infer::FacePipeline;
    check_upsample(query.upsample)?;
    let limits = folder_limits(&studio, IMAGE_EXTENSIONS, true);
    submit_folder_job(
        &studio,
        "face-enroll",
        "face-enroll",
        multipart,
        limits,
        |received| format!("gallery from {} photos", received.files.len()),
        Box::new(move |run, data, received, job| {
            let record = EnrollRecord {
                encoder: casebook_core::model_file::BUILTIN,
                upsample: query.upsample,
                photos: received.files.len(),
            };
            run.start(&record, |run| {
                let pipeline = FacePipeline::load(record.encoder)?;
                let (people, skipped) = people_folders(&data)?;
                for s in &skipped {
                    (job as &dyn Observer).skipped(&s.path, &s.reason);
                }
                let mut book = Gallery::new(&pipeline.encoder);
                let enrolled = enroll_people(&pipeline, &mut book, &people, query.upsample, job)?;
                book.save(&run.model_path())?;
                enrolment_report(&people, &enrolled, &skipped).save(&run.report_path())?;
                job.update(|s| {
                    s.reading = format!(
                        "{} people from {} photos",
                        enrolled.people.len(),
                        enrolled.photos
                    )
                });
                Ok(())
            })
        }),
    )
    .await
}

/// The enrolment run's report: who was enrolled from how many photos.
fn enrolment_report(
    people: &[casebook_faces::infer::enroll::PersonPhotos],
    enrolled: &casebook_faces::infer::enroll::Enrolled,
    skipped: &[casebook_vision::Skipped],
) -> casebook_core::report::Report {
    let mut report = casebook_core::report::Report::new("Face gallery");
    report.paragraph(&format!(
        "{} people enrolled from {} photos with the built-in encoder (each photo adds its largest face); photos with no face found, or that could not be read, are left out.",
        enrolled.people.len(),
        enrolled.photos
    ));
    let rows: Vec<Vec<String>> = people
        .iter()
        .map(|(name, photos)| {
            let kept = if enrolled.people.contains(name) {
                "yes"
            } else {
                "no face found"
            };
            vec![name.clone(), photos.len().to_string(), kept.to_string()]
        })
        .collect();
    report.table(&["person", "photos", "enrolled"], &rows);
    if !skipped.is_empty() {
        report.paragraph(&format!(
            "{} files were not photos and were left out.",
            skipped.len()
        ));
    }
    report
}
