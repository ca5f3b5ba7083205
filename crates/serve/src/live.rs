//! Live listening over a WebSocket: the page sends the microphone as 16-bit
//! little-endian mono PCM at its own rate, the server runs it through
//! `trigger::infer::listen` (the code behind `casebook trigger listen
//! --stdin`) on a blocking thread, and sends each detection back the moment
//! the debouncer fires, as `{"time": s, "score": p}`. A text message `end`
//! says no more audio will come: the server sends what the rest of it holds
//! and closes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use casebook_trigger::data::SUPPORTED_RATES;
use casebook_trigger::infer::{Detection, DetectionRule, TriggerModel};
use serde::Deserialize;

use crate::error::ApiError;
use crate::models::{self, Kind};
use crate::Studio;

/// Live sessions at once (each holds a thread and a model's stream).
const MAX_LIVE: usize = 4;

#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    #[serde(default = "builtin")]
    model: String,
    rate: u32,
    threshold: Option<f32>,
}

fn builtin() -> String {
    casebook_core::model_file::BUILTIN.into()
}

/// The audio bytes from the socket as a `Read` for `listen`: a read waits
/// for the next message; the socket's end is the end of the input.
struct Received {
    messages: mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
    at: usize,
}

impl std::io::Read for Received {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.pending.len() {
            match self.messages.recv() {
                Ok(bytes) => (self.pending, self.at) = (bytes, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.pending.len() - self.at);
        out[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Ends a live session's claim on one of the [`MAX_LIVE`] places.
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub async fn trigger_live(
    upgrade: WebSocketUpgrade,
    State(studio): State<Studio>,
    Query(query): Query<LiveQuery>,
) -> Result<Response, ApiError> {
    if !SUPPORTED_RATES.contains(&query.rate) {
        return Err(ApiError::bad_request(format!(
            "rate must be the audio's sample rate in Hz, {}–{}",
            SUPPORTED_RATES.start(),
            SUPPORTED_RATES.end()
        )));
    }
    if let Some(t) = query.threshold.filter(|t| !(*t > 0.0 && *t < 1.0)) {
        return Err(ApiError::bad_request(format!(
            "threshold must lie between 0 and 1, not {t}"
        )));
    }
    let path = models::resolve(&studio.config().runs_dir, Kind::Trigger, &query.model)?;
    let model: TriggerModel = studio
        .work(move |inner| {
            let cached = inner
                .triggers
                .get(&path, |p| TriggerModel::open(&p.to_string_lossy()))?;
            let model = cached.lock().unwrap_or_else(|e| e.into_inner()).clone();
            Ok(model)
        })
        .await?;
    let live = studio.inner.live.clone();
    if live.fetch_add(1, Ordering::SeqCst) >= MAX_LIVE {
        live.fetch_sub(1, Ordering::SeqCst);
        return Err(ApiError::busy());
    }
    let place = Place(live);
    let threshold = query.threshold.unwrap_or(model.default_threshold());
    Ok(upgrade.on_upgrade(move |socket| session(socket, model, query.rate, threshold, place)))
}

async fn session(
    mut socket: WebSocket,
    model: TriggerModel,
    rate: u32,
    threshold: f32,
    place: Place,
) {
    let (audio, messages) = mpsc::channel::<Vec<u8>>();
    let (found, mut detections) = tokio::sync::mpsc::unbounded_channel::<Detection>();
    let worker = tokio::task::spawn_blocking(move || {
        let input = Received {
            messages,
            pending: Vec::new(),
            at: 0,
        };
        casebook_trigger::infer::listen(
            &model,
            input,
            rate,
            threshold,
            DetectionRule::default(),
            |d| {
                let _ = found.send(*d);
            },
        )
    });
    let _ = socket
        .send(Message::Text(
            serde_json::json!({ "listening": true, "threshold": threshold })
                .to_string()
                .into(),
        ))
        .await;
    let mut audio = Some(audio);
    loop {
        tokio::select! {
            message = socket.recv(), if audio.is_some() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    if let Some(sender) = &audio {
                        let _ = sender.send(bytes.to_vec());
                    }
                }
                // "end": no more audio, but send what it still finds, then close.
                Some(Ok(Message::Text(text))) if text.as_str() == "end" => audio = None,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => audio = None,
                Some(Ok(_)) => {}
            },
            detection = detections.recv() => match detection {
                Some(d) => {
                    let text = serde_json::json!({ "time": d.time, "score": d.score }).to_string();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        audio = None;
                    }
                }
                None => break,
            },
        }
    }
    if let Ok(Err(e)) = worker.await {
        let text = serde_json::json!({ "error": format!("{e:#}") }).to_string();
        let _ = socket.send(Message::Text(text.into())).await;
    }
    let _ = socket.send(Message::Close(None)).await;
    drop(place);
}
