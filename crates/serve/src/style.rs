//! The Style page's job: a style transfer by optimisation (`casebook style
//! transfer`) with a built-in feature network, its frames published as
//! the picture forms, its run folder (result, losses, report) under
//! `--runs-dir` as from the command line.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use casebook_style::data::{picture_from_bytes, resize_longer_side, starry_night};
use casebook_style::infer::{check_memory, Init, StyleInput, TransferConfig};
use casebook_style::model::{FeatureNet, Pool, Source};
use casebook_style::run::{run_transfer, TransferRecord};
use serde::Deserialize;

use crate::api::upload;
use crate::error::ApiError;
use crate::jobs::{Job, JobState, Work};
use crate::Studio;

/// Largest side the studio draws at: a transfer at 512 px takes minutes on
/// two cores (larger sizes are for `casebook style transfer`).
const MAX_SIZE: u32 = 512;
/// Frames published per transfer.
const FRAMES: usize = 20;

/// The pictures (base64 of their files) and settings. Without a style
/// picture the built-in painting (*The Starry Night*) is used.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    content: String,
    #[serde(default)]
    style: Option<String>,
    #[serde(default)]
    size: Option<u32>,
    #[serde(default)]
    iterations: Option<usize>,
    #[serde(default)]
    style_weight: Option<f32>,
    /// `builtin` (VGG-19, the default) or `random`: the studio reads no
    /// feature-network files.
    #[serde(default)]
    features: Option<String>,
    #[serde(default)]
    preserve_colors: bool,
    #[serde(default)]
    from_noise: bool,
}

/// Queues a style transfer as a job. Cancelled while it runs, it ends
/// early with the picture so far as its result (as Ctrl-C does on the
/// command line).
pub async fn transfer(
    State(studio): State<Studio>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<JobState>), ApiError> {
    let bytes = upload(body, studio.config().max_upload)?;
    let request: TransferRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "send {{\"content\": base64, \"style\": base64, \"size\": N, \"iterations\": N}}: {e}"
        ))
    })?;
    let defaults = TransferConfig::default();
    let config = TransferConfig {
        size: request.size.unwrap_or(defaults.size),
        iterations: request.iterations.unwrap_or(defaults.iterations),
        style_weight: request.style_weight.unwrap_or(defaults.style_weight),
        preserve_colours: request.preserve_colors,
        init: if request.from_noise {
            Init::Noise
        } else {
            Init::Content
        },
        ..defaults
    };
    config
        .validate()
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    if config.size > MAX_SIZE {
        return Err(ApiError::bad_request(format!(
            "size is at most {MAX_SIZE} here; casebook style transfer --size {} draws larger",
            config.size
        )));
    }
    let features = match request.features.as_deref() {
        None | Some("builtin") => Source::Builtin,
        Some("random") => Source::Random,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "features is 'builtin' or 'random', not '{other}'"
            )))
        }
    };
    let engine = base64::engine::general_purpose::STANDARD;
    let picture = |data: &str, what: &str| -> Result<_, ApiError> {
        let file = engine
            .decode(data.as_bytes())
            .map_err(|e| ApiError::bad_request(format!("the {what} is not base64: {e}")))?;
        picture_from_bytes(&file, &format!("the {what}"))
            .map_err(|e| ApiError::unprocessable(format!("{e:#}")))
    };
    let content = picture(&request.content, "content picture")?;
    let (style, style_name) = match &request.style {
        Some(data) => (
            picture(data, "style picture")?,
            "the uploaded style picture",
        ),
        None => (starry_night(), "The Starry Night (built in)"),
    };
    let runs_dir = studio.config().runs_dir.clone();
    let title = format!(
        "{} iterations at {} px in the style of {style_name}",
        config.iterations, config.size
    );
    let work: Work = Box::new(move |job: &Job| {
        let device = casebook_core::device::compute_device().autodiff();
        let net = FeatureNet::load(&features, Pool::default(), &device)?;
        check_memory(&net, config.size)?;
        let record = TransferRecord {
            config: config.clone(),
            content: "the uploaded content picture".into(),
            styles: vec![(style_name.into(), 1.0)],
            features: net.source.clone(),
            pool: Pool::default(),
            frame_every: config.iterations.div_ceil(FRAMES).max(1),
        };
        let run = casebook_core::run::RunDir::create(&runs_dir, None, "style-transfer")?;
        let name = crate::jobs::run_name(&run);
        job.update(|s| s.run = Some(name.clone()));
        let content = resize_longer_side(&content, config.size);
        let styles = [StyleInput {
            picture: resize_longer_side(&style, config.size),
            weight: 1.0,
        }];
        let done = run_transfer(
            &net,
            &content,
            &styles,
            &record,
            run,
            job,
            &mut |_, picture| {
                job.publish_picture(casebook_vision::png_bytes(picture)?);
                Ok(())
            },
        )?;
        if let Some(iterations) = done.transfer.stopped_after {
            job.update(|s| {
                s.reading = format!(
                    "stopped after {iterations} iterations: the picture so far is the result"
                )
            });
        }
        Ok(name)
    });
    let job = studio.inner.jobs.submit("style-transfer", title, work)?;
    Ok((StatusCode::ACCEPTED, Json(job.state())))
}
