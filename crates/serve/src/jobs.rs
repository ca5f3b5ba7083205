//! Long work (training) as jobs: queued per kind and run one at a time,
//! reported through the library's `Observer` events into a state that the
//! page follows over server-sent events, cancellable, and kept on the server
//! so a reloaded page finds it again. The result lands in a run folder under
//! `--runs-dir`, as from the command line.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::Json;
use casebook_core::observe::{Event, Observer};
use serde::{Deserialize, Serialize};

use crate::api::{check_type, upload};
use crate::error::ApiError;
use crate::Studio;

/// Jobs waiting behind the running one, per kind, before the server says no.
const MAX_QUEUED: usize = 8;
/// Finished jobs kept for the list.
const KEPT: usize = 50;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

/// What the page shows of a job.
#[derive(Debug, Clone, Serialize)]
pub struct JobState {
    pub id: u64,
    pub kind: &'static str,
    pub title: String,
    pub status: Status,
    /// The library's current phase, its units done and in all (0: unknown).
    pub phase: String,
    pub done: u64,
    pub total: u64,
    /// The latest live reading ("loss 0.31") or note.
    pub reading: String,
    /// The run folder's name, once made.
    pub run: Option<String>,
    pub error: Option<String>,
}

pub struct Job {
    state: Mutex<JobState>,
    cancel: AtomicBool,
    /// Bumped at every change; the event streams wait on it.
    version: tokio::sync::watch::Sender<u64>,
}

impl Job {
    fn update(&self, change: impl FnOnce(&mut JobState)) {
        change(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.version.send_modify(|v| *v += 1);
    }

    pub fn state(&self) -> JobState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn finished(&self) -> bool {
        !matches!(self.state().status, Status::Queued | Status::Running)
    }
}

impl Observer for Job {
    fn event(&self, event: Event<'_>) {
        self.update(|s| match event {
            Event::Started { phase, total } => {
                s.phase = phase.to_string();
                (s.done, s.total) = (0, total);
            }
            Event::Advanced { units } => s.done += units,
            Event::Status(text) | Event::Note(text) | Event::Warning(text) => {
                s.reading = text.to_string()
            }
            Event::Finished | Event::Skipped { .. } | Event::Metrics(_) => {}
        });
    }

    fn should_stop(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}

/// The work of a job: runs on a blocking thread, reports to the job, and
/// returns the run folder it made.
type Work = Box<dyn FnOnce(&Job) -> anyhow::Result<String> + Send>;

/// One kind's jobs waiting, and whether a runner is draining them.
#[derive(Default)]
struct Queue {
    waiting: VecDeque<(Arc<Job>, Work)>,
    draining: bool,
}

#[derive(Default)]
pub struct Jobs {
    next_id: AtomicU64,
    all: Mutex<Vec<Arc<Job>>>,
    queues: Mutex<std::collections::HashMap<&'static str, Queue>>,
}

impl Jobs {
    fn find(&self, id: u64) -> Option<Arc<Job>> {
        let all = self.all.lock().unwrap_or_else(|e| e.into_inner());
        all.iter().find(|j| j.state().id == id).cloned()
    }

    /// Queues `work` as a job of `kind`; starts the kind's runner if none is.
    fn submit(
        self: &Arc<Self>,
        kind: &'static str,
        title: String,
        work: Work,
    ) -> Result<Arc<Job>, ApiError> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let job = Arc::new(Job {
            state: Mutex::new(JobState {
                id,
                kind,
                title,
                status: Status::Queued,
                phase: "waiting for the job before it".into(),
                done: 0,
                total: 0,
                reading: String::new(),
                run: None,
                error: None,
            }),
            cancel: AtomicBool::new(false),
            version: tokio::sync::watch::channel(0).0,
        });
        let start_runner = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            let queue = queues.entry(kind).or_default();
            if queue.waiting.len() >= MAX_QUEUED {
                return Err(ApiError::busy());
            }
            queue.waiting.push_back((job.clone(), work));
            !std::mem::replace(&mut queue.draining, true)
        };
        {
            let mut all = self.all.lock().unwrap_or_else(|e| e.into_inner());
            all.push(job.clone());
            // Forget the oldest finished jobs beyond the ones kept.
            while all.len() > KEPT {
                match all.iter().position(|j| j.finished()) {
                    Some(oldest) => drop(all.remove(oldest)),
                    None => break,
                }
            }
        }
        if start_runner {
            tokio::spawn(self.clone().drain(kind));
        }
        Ok(job)
    }

    /// Runs the kind's jobs one after another until its queue is empty.
    async fn drain(self: Arc<Self>, kind: &'static str) {
        loop {
            let next = {
                let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
                let queue = queues.entry(kind).or_default();
                let next = queue.waiting.pop_front();
                queue.draining = next.is_some();
                next
            };
            let Some((job, work)) = next else { return };
            if job.cancel.load(Ordering::SeqCst) {
                job.update(|s| s.status = Status::Cancelled);
                continue;
            }
            job.update(|s| {
                s.status = Status::Running;
                s.phase = "starting".into();
            });
            let running = job.clone();
            let outcome = tokio::task::spawn_blocking(move || work(&running)).await;
            job.update(|s| match outcome {
                Ok(Ok(run)) => {
                    s.status = Status::Done;
                    s.run = Some(run);
                }
                Ok(Err(e))
                    if e.downcast_ref::<casebook_core::observe::Stopped>()
                        .is_some() =>
                {
                    s.status = Status::Cancelled
                }
                Ok(Err(e)) => {
                    s.status = Status::Failed;
                    s.error = Some(format!("{e:#}"));
                }
                Err(e) => {
                    s.status = Status::Failed;
                    s.error = Some(format!("the job ended abnormally: {e}"));
                }
            });
        }
    }
}

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
        let run = casebook_core::run::RunDir::create(&runs_dir, None, "logreg-train")?;
        let name = run
            .path()
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        job.update(|s| s.run = Some(name.clone()));
        casebook_logreg::train::train(&config, run, job).map_err(|e| {
            anyhow::anyhow!(
                "{}",
                format!("{e:#}").replace(&data.display().to_string(), "the upload")
            )
        })?;
        Ok(name)
    });
    let job = studio.inner.jobs.submit("logreg-train", title, work)?;
    Ok((StatusCode::ACCEPTED, Json(job.state())))
}

pub async fn list(State(studio): State<Studio>) -> Json<Vec<JobState>> {
    let all = studio
        .inner
        .jobs
        .all
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    Json(all.iter().rev().map(|j| j.state()).collect())
}

pub async fn cancel(
    State(studio): State<Studio>,
    Path(id): Path<u64>,
) -> Result<Json<JobState>, ApiError> {
    let job = studio
        .inner
        .jobs
        .find(id)
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))?;
    job.cancel.store(true, Ordering::SeqCst);
    if job.state().status == Status::Queued {
        job.update(|s| s.status = Status::Cancelled);
    }
    Ok(Json(job.state()))
}

/// The job's state now and at every change, as server-sent events, until it ends.
pub async fn events(
    State(studio): State<Studio>,
    Path(id): Path<u64>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let job = studio
        .inner
        .jobs
        .find(id)
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))?;
    let changes = job.version.subscribe();
    let stream = futures_util::stream::unfold(
        (job, changes, true, false),
        |(job, mut changes, first, ended)| async move {
            if ended {
                return None;
            }
            if !first {
                // The next change, or a fresh look every few seconds.
                let _ = tokio::time::timeout(Duration::from_secs(5), changes.changed()).await;
            }
            changes.borrow_and_update();
            let state = job.state();
            let last = !matches!(state.status, Status::Queued | Status::Running);
            let event = SseEvent::default()
                .json_data(&state)
                .unwrap_or_else(|_| SseEvent::default().data("{}"));
            Some((Ok(event), (job, changes, false, last)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
