//! `casebook serve`: a local web studio over the case libraries. Each page
//! calls the same library code as the CLI (`Classifier::predict_image`,
//! `TriggerModel::score_clip`, `logreg::infer::predict_csv`); this crate
//! only moves bytes between HTTP and those calls.
//!
//! Safety, since a browser is a client like any other: uploads are capped
//! ([`Config::max_upload`]) and decoded by the libraries' own checked
//! readers; the client names models and runs only by a run folder's plain
//! name ([`models::is_plain_name`]), never by a path; temporary files get
//! server-made names in [`Config::temp_dir`] and go when the request ends;
//! every request has a time limit; heavy work runs on a bounded pool of
//! workers and a full queue is answered 503 rather than grown.

mod api;
mod case_jobs;
mod error;
mod human;
mod jobs;
mod live;
mod models;
mod pages;
mod runs;
mod style;
mod upload;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;

pub use error::ApiError;
pub use models::is_plain_name;

/// Where the studio tells of each request it answered: one line,
/// `2026-12-04 18:12:03 GET /api/image/predict?model=builtin 200 8 ms` (UTC;
/// the time to the response's head: a job's events and live listening go
/// on after it).
#[derive(Clone)]
pub struct AccessLog(pub Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessLog")
    }
}

/// How the studio is run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The folder of run folders (the CLI's `--runs-dir`).
    pub runs_dir: PathBuf,
    /// Largest upload accepted, in bytes.
    pub max_upload: usize,
    /// Largest folder upload accepted (all its files), in bytes.
    pub max_folder: u64,
    /// Longest a request may take before it is answered 408.
    pub timeout: Duration,
    /// Requests that may wait for a worker before the server answers 503.
    pub max_waiting: usize,
    /// Where uploads that a library reads from a file are put while it works.
    pub temp_dir: PathBuf,
    /// Told of every request answered (none: nothing is said).
    pub access_log: Option<AccessLog>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            runs_dir: PathBuf::from("runs"),
            max_upload: 32 << 20,
            max_folder: 1 << 30,
            timeout: Duration::from_secs(120),
            max_waiting: 64,
            temp_dir: std::env::temp_dir(),
            access_log: None,
        }
    }
}

/// The shared state of every handler.
#[derive(Clone)]
struct Studio {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    catalogue: models::Catalogue,
    images: models::Cache<casebook_image::infer::Classifier>,
    triggers: models::Cache<casebook_trigger::infer::TriggerModel>,
    faces: models::Cache<casebook_faces::infer::FacePipeline>,
    galleries: models::Cache<casebook_faces::gallery::Gallery>,
    workers: Semaphore,
    waiting: AtomicUsize,
    jobs: Arc<jobs::Jobs>,
    /// Live listening sessions open now.
    live: Arc<AtomicUsize>,
}

impl Studio {
    fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Runs `work` on a blocking worker (the models are CPU-bound); at most
    /// one per core at a time, and at most `max_waiting` queued behind them.
    async fn work<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let inner = &self.inner;
        if inner.waiting.fetch_add(1, Ordering::SeqCst) >= inner.config.max_waiting {
            inner.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::busy());
        }
        let permit = inner.workers.acquire().await;
        inner.waiting.fetch_sub(1, Ordering::SeqCst);
        let _permit = permit.map_err(|_| ApiError::busy())?;
        let shared = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&shared))
            .await
            .map_err(|e| ApiError::internal(format!("the work failed: {e}")))?
    }
}

/// The studio's routes (pages, their API and the run folders).
pub fn router(config: Config) -> Router {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let limit = config.max_upload;
    let folder_limit = usize::try_from(config.max_folder).unwrap_or(usize::MAX);
    let timeout = config.timeout;
    let studio = Studio {
        inner: Arc::new(Inner {
            config,
            catalogue: models::Catalogue::default(),
            images: models::Cache::default(),
            triggers: models::Cache::default(),
            faces: models::Cache::default(),
            galleries: models::Cache::default(),
            workers: Semaphore::new(workers),
            waiting: AtomicUsize::new(0),
            jobs: Arc::default(),
            live: Arc::default(),
        }),
    };
    Router::new()
        .route("/", get(pages::home))
        .route("/runs", get(runs::list_page))
        .route("/runs/{name}/{file}", get(runs::file))
        .route("/daynight", get(pages::daynight))
        .route("/trigger", get(pages::trigger))
        .route("/logreg", get(pages::logreg))
        .route("/faces", get(pages::faces))
        .route("/assets/{file}", get(pages::asset))
        .route("/api/models/{kind}", get(api::models))
        .route("/api/runs", get(runs::list_json))
        .route("/api/image/predict", post(api::image_predict))
        .route("/api/trigger/detect", post(api::trigger_detect))
        .route("/api/logreg/predict", post(api::logreg_predict))
        .route("/api/faces/verify", post(api::faces_verify))
        .route("/api/trigger/live", get(live::trigger_live))
        .route("/api/jobs", get(jobs::list))
        .route("/api/jobs/logreg-train", post(case_jobs::logreg_train))
        .route(
            "/api/jobs/image-train",
            post(case_jobs::image_train).layer(DefaultBodyLimit::max(folder_limit)),
        )
        .route(
            "/api/jobs/face-enroll",
            post(case_jobs::face_enroll).layer(DefaultBodyLimit::max(folder_limit)),
        )
        .route("/api/faces/identify", post(api::faces_identify))
        .route(
            "/api/jobs/face-cluster",
            post(case_jobs::face_cluster).layer(DefaultBodyLimit::max(folder_limit)),
        )
        .route("/api/jobs/{id}/events", get(jobs::events))
        .route("/api/jobs/{id}/cancel", post(jobs::cancel))
        .route("/api/jobs/{id}/picture", get(jobs::picture))
        .route("/api/jobs/style-transfer", post(style::transfer))
        .route("/style", get(pages::style))
        .route("/human", get(human::list_page))
        .route("/human/{run}", get(human::study_page))
        .route("/human/{run}/answers", post(human::answers))
        .route("/api/jobs/trigger-human-study", post(human::trigger_study))
        .route(
            "/api/jobs/image-resolution-study",
            post(human::image_study).layer(DefaultBodyLimit::max(folder_limit)),
        )
        .layer(axum::middleware::from_fn_with_state(
            studio.clone(),
            log_request,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(studio)
}

/// Tells the access log (if any) of the request once its response is made.
async fn log_request(
    axum::extract::State(studio): axum::extract::State<Studio>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let Some(log) = studio.config().access_log.clone() else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.to_string());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (log.0)(&format!(
        "{}:{:02} {method} {target} {} {:.0} ms",
        runs::utc(now),
        now % 60,
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    ));
    response
}

/// Serves the studio on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
}
