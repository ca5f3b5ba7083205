//! Long work as jobs: queued per kind and run one at a time,
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

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::Json;
use casebook_core::observe::{Event, Observer};
use casebook_core::run::RunDir;
use serde::Serialize;

use crate::error::ApiError;
use crate::upload::{self, Limits, Received};
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
    /// Pictures published so far (a style transfer's frames); the latest
    /// is at `/api/jobs/ID/picture`.
    pub pictures: u32,
}

pub struct Job {
    state: Mutex<JobState>,
    /// The latest picture the work published, as PNG.
    picture: Mutex<Option<Arc<Vec<u8>>>>,
    cancel: AtomicBool,
    /// Bumped at every change; the event streams wait on it.
    version: tokio::sync::watch::Sender<u64>,
}

impl Job {
    pub(crate) fn update(&self, change: impl FnOnce(&mut JobState)) {
        change(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.version.send_modify(|v| *v += 1);
    }

    /// Shows `png` as the job's latest picture.
    pub fn publish_picture(&self, png: Vec<u8>) {
        *self.picture.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(png));
        self.update(|s| s.pictures += 1);
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
            Event::Skipped { path, reason } => {
                let file = path.file_name().unwrap_or_default().to_string_lossy();
                s.reading = format!("left out {file}: {reason}");
            }
            Event::Finished | Event::Metrics(_) => {}
        });
    }

    fn should_stop(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}

/// The work of a job: runs on a blocking thread, reports to the job, and
/// returns the run folder it made.
pub(crate) type Work = Box<dyn FnOnce(&Job) -> anyhow::Result<String> + Send>;

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
    pub(crate) fn submit(
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
                pictures: 0,
            }),
            picture: Mutex::default(),
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

    /// Takes a waiting job out of its queue: its work (and any upload it
    /// holds) goes now, not when the runner would have reached it.
    fn withdraw(&self, id: u64) {
        let withdrawn: Vec<(Arc<Job>, Work)> = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            queues
                .values_mut()
                .flat_map(|queue| {
                    let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut queue.waiting)
                        .into_iter()
                        .partition(|(job, _)| job.state().id == id);
                    queue.waiting = kept.into();
                    gone
                })
                .collect()
        };
        drop(withdrawn);
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

/// A run folder made for a job before its data arrives. It goes again
/// unless the job's run starts (writes `config.json`): an upload that
/// fails, or a job cancelled while queued, leaves nothing behind. A run
/// that started keeps its folder ([`RunDir::start`] decides on failures).
struct PendingRun {
    run: Option<RunDir>,
    path: PathBuf,
    name: String,
}

/// A run folder's name (what the client sees and sends back).
pub(crate) fn run_name(run: &RunDir) -> String {
    run.path()
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

impl PendingRun {
    fn create(runs_dir: &std::path::Path, prefix: &str) -> Result<Self, ApiError> {
        let run = RunDir::create(runs_dir, None, prefix)
            .map_err(|e| ApiError::internal(format!("{e:#}")))?;
        let path = run.path().to_path_buf();
        let name = run_name(&run);
        Ok(Self {
            run: Some(run),
            path,
            name,
        })
    }

    fn take(&mut self) -> RunDir {
        self.run.take().expect("a pending run is taken once")
    }
}

impl Drop for PendingRun {
    fn drop(&mut self) {
        if let Some(run) = self.run.take() {
            run.discard();
        } else if !self.path.join("config.json").exists() {
            // Taken but never started: the job failed before `RunDir::start`.
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The work of a job on a folder: gets the run, the folder the upload was
/// stored in (`RUN/data`) and what was received.
pub(crate) type FolderWork =
    Box<dyn FnOnce(RunDir, PathBuf, Received, &Job) -> anyhow::Result<()> + Send>;

/// Makes a run folder (`PREFIX-time`), receives the uploaded folder into
/// its `data`, and queues `work` on it as a job of `kind`; `title` names
/// the job from what arrived.
pub(crate) async fn submit_folder_job(
    studio: &Studio,
    kind: &'static str,
    prefix: &str,
    multipart: Multipart,
    limits: Limits,
    title: impl FnOnce(&Received) -> String,
    work: FolderWork,
) -> Result<(StatusCode, Json<JobState>), ApiError> {
    let mut pending = PendingRun::create(&studio.config().runs_dir, prefix)?;
    let data = pending.path.join("data");
    std::fs::create_dir_all(&data)
        .map_err(|e| ApiError::internal(format!("cannot keep the upload: {e}")))?;
    let received = upload::receive(multipart, &data, &limits).await?;
    write_upload_list(&pending.path, &received)
        .map_err(|e| ApiError::internal(format!("{e:#}")))?;
    let title = title(&received);
    let name = pending.name.clone();
    let job_work: Work = Box::new(move |job: &Job| {
        let run = pending.take();
        let data = pending.path.join("data");
        let shown = data.clone();
        work(run, data, received, job)
            .map_err(|e| without_path(e, &shown, "the uploaded folder"))?;
        Ok(pending.name.clone())
    });
    let job = studio.inner.jobs.submit(kind, title, job_work)?;
    job.update(|s| s.run = Some(name));
    Ok((StatusCode::ACCEPTED, Json(job.state())))
}

/// `error` with the server's path to an upload put as `shown`: the path
/// means nothing to the person who uploaded. A stop stays a stop (the job
/// is then cancelled, not failed).
pub(crate) fn without_path(
    error: anyhow::Error,
    path: &std::path::Path,
    shown: &str,
) -> anyhow::Error {
    if error
        .downcast_ref::<casebook_core::observe::Stopped>()
        .is_some()
    {
        return error;
    }
    anyhow::anyhow!(
        "{}",
        format!("{error:#}").replace(&path.display().to_string(), shown)
    )
}

/// `uploaded.csv` in the run folder: each stored file and the name the
/// page sent for it, so results can be traced back to the person's files.
fn write_upload_list(run: &std::path::Path, received: &Received) -> anyhow::Result<()> {
    casebook_core::fsx::write_csv(
        &run.join("uploaded.csv"),
        &["stored", "sent as"],
        &received
            .files
            .iter()
            .map(|(sent, stored)| (format!("data/{}", stored.display()), sent))
            .collect::<Vec<_>>(),
    )
}

/// The folder limits of a job reading `extensions`.
pub(crate) fn folder_limits(
    studio: &Studio,
    extensions: &'static [&'static str],
    labelled: bool,
) -> Limits {
    Limits {
        extensions,
        per_file: studio.config().max_upload,
        total: studio.config().max_folder,
        labelled,
    }
}

pub(crate) const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

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
        studio.inner.jobs.withdraw(id);
    }
    Ok(Json(job.state()))
}

/// The job's latest picture (PNG).
pub async fn picture(
    State(studio): State<Studio>,
    Path(id): Path<u64>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let job = studio
        .inner
        .jobs
        .find(id)
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))?;
    let png = job
        .picture
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| ApiError::not_found(format!("job {id} has no picture yet")))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/png"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        png.as_ref().clone(),
    )
        .into_response())
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
