//! The JSON and CSV endpoints the pages call. Uploads are the request body
//! itself (the browser sends the file as it is), so no client file name is
//! ever read, let alone used.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use casebook_faces::gallery::Candidate;
use casebook_image::infer::Classifier;
use casebook_trigger::data::audio::Clip;
use casebook_trigger::infer::{Debouncer, DetectionRule, TriggerModel};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::models::{self, Kind, Offer};
use crate::Studio;

/// `?model=NAME` (`builtin` or a run folder's name) and, for the trigger
/// word, `&threshold=X`.
#[derive(Debug, Deserialize)]
pub struct ModelQuery {
    #[serde(default = "builtin")]
    model: String,
    threshold: Option<f32>,
}

fn builtin() -> String {
    casebook_core::model_file::BUILTIN.into()
}

/// What browsers declare for a CSV file (Windows says Excel).
pub(crate) const CSV_TYPES: &[&str] = &[
    "text/csv",
    "text/plain",
    "application/csv",
    "application/vnd.ms-excel",
];

/// Audio longer than this is for `casebook trigger detect`, which streams.
const MAX_AUDIO_SECONDS: f64 = 600.0;
/// Points of the waveform and score curves sent to the page.
const CURVE_POINTS: usize = 1000;

pub async fn models(
    State(studio): State<Studio>,
    Path(kind): Path<String>,
) -> Result<Json<Vec<Offer>>, ApiError> {
    let kind = Kind::from_name(&kind)
        .ok_or_else(|| ApiError::not_found("models are listed for image, trigger and logreg"))?;
    let runs = studio.config().runs_dir.clone();
    studio
        .work(move |inner| Ok(inner.catalogue.offers(&runs, kind)))
        .await
        .map(Json)
}

/// Refuses a declared content type that is not one of `accepted` (prefixes
/// such as `image/`); none declared, or `application/octet-stream`, is let
/// through to the decoder, which has the last word anyway.
pub(crate) fn check_type(
    headers: &HeaderMap,
    accepted: &[&str],
    wanted: &str,
) -> Result<(), ApiError> {
    let Some(declared) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = declared
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence.is_empty()
        || essence == "application/octet-stream"
        || accepted.iter().any(|a| essence.starts_with(a))
    {
        Ok(())
    } else {
        Err(ApiError::wrong_type(&essence, wanted))
    }
}

/// The upload, or why it cannot be had.
pub(crate) fn upload(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    match body {
        Ok(bytes) if bytes.is_empty() => Err(ApiError::bad_request("the upload is empty")),
        Ok(bytes) => Ok(bytes),
        Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::too_large(limit))
        }
        Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
    }
}

#[derive(Debug, Serialize)]
pub struct ImageAnswer {
    label: String,
    probability: f32,
    classes: Vec<String>,
    probabilities: Vec<f32>,
    width: u32,
    height: u32,
}

pub async fn image_predict(
    State(studio): State<Studio>,
    Query(query): Query<ModelQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ImageAnswer>, ApiError> {
    check_type(&headers, &["image/"], "an image (PNG or JPEG)")?;
    let bytes = upload(body, studio.config().max_upload)?;
    let path = models::resolve(&studio.config().runs_dir, Kind::Image, &query.model)?;
    studio
        .work(move |inner| {
            let image = casebook_vision::decode_rgb(&bytes).map_err(ApiError::unprocessable)?;
            let model = inner.images.get(&path, Classifier::open)?;
            let model = model.lock().unwrap_or_else(|e| e.into_inner());
            let (label, probability, probabilities) = model.predict_image(&image);
            Ok(ImageAnswer {
                label,
                probability,
                classes: model.classes().to_vec(),
                probabilities,
                width: image.width(),
                height: image.height(),
            })
        })
        .await
        .map(Json)
}

#[derive(Debug, Serialize)]
pub struct TriggerAnswer {
    word: String,
    seconds: f64,
    rate: u32,
    threshold: f32,
    /// `[time s, peak score]` over at most [`CURVE_POINTS`] spans.
    scores: Vec<[f32; 2]>,
    /// `[min, max]` of the samples over [`CURVE_POINTS`] equal spans.
    waveform: Vec<[f32; 2]>,
    detections: Vec<DetectionAnswer>,
}

#[derive(Debug, Serialize)]
pub struct DetectionAnswer {
    time: f64,
    score: f32,
}

pub async fn trigger_detect(
    State(studio): State<Studio>,
    Query(query): Query<ModelQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TriggerAnswer>, ApiError> {
    check_type(&headers, &["audio/"], "a WAV file")?;
    let bytes = upload(body, studio.config().max_upload)?;
    let path = models::resolve(&studio.config().runs_dir, Kind::Trigger, &query.model)?;
    if let Some(t) = query.threshold.filter(|t| !(*t > 0.0 && *t < 1.0)) {
        return Err(ApiError::bad_request(format!(
            "threshold must lie between 0 and 1, not {t}"
        )));
    }
    studio
        .work(move |inner| {
            let clip = Clip::from_wav_bytes(&bytes, "the upload")
                .map_err(|e| ApiError::unprocessable(format!("{e:#}")))?;
            if clip.seconds() > MAX_AUDIO_SECONDS {
                return Err(ApiError::unprocessable(format!(
                    "the recording is {:.0} s long; the studio takes up to {MAX_AUDIO_SECONDS:.0} s (casebook trigger detect streams files of any length)",
                    clip.seconds()
                )));
            }
            let model = inner.triggers.get(&path, |p| {
                TriggerModel::open(&p.to_string_lossy())
            })?;
            let model = model.lock().unwrap_or_else(|e| e.into_inner());
            let threshold = query.threshold.unwrap_or(model.default_threshold());
            let steps = model
                .score_clip(&clip)
                .map_err(|e| ApiError::unprocessable(format!("{e:#}")))?;
            let detections = Debouncer::run(threshold, DetectionRule::default(), &steps);
            Ok(TriggerAnswer {
                word: model.word.clone(),
                seconds: clip.seconds(),
                rate: clip.rate,
                threshold,
                scores: steps
                    .chunks(steps.len().div_ceil(CURVE_POINTS).max(1))
                    .map(|span| {
                        let peak = span.iter().map(|s| s.probability).fold(0.0, f32::max);
                        [span[0].time as f32, peak]
                    })
                    .collect(),
                waveform: clip
                    .samples
                    .chunks(clip.samples.len().div_ceil(CURVE_POINTS).max(1))
                    .map(|span| {
                        span.iter()
                            .fold([f32::MAX, f32::MIN], |[lo, hi], &x| [lo.min(x), hi.max(x)])
                    })
                    .collect(),
                detections: detections
                    .iter()
                    .map(|d| DetectionAnswer {
                        time: d.time,
                        score: d.score,
                    })
                    .collect(),
            })
        })
        .await
        .map(Json)
}

/// Scores a CSV with a logistic-regression run's model: the CSV comes back
/// with the probability columns and predicted labels appended, as from
/// `casebook logreg predict`.
pub async fn logreg_predict(
    State(studio): State<Studio>,
    Query(query): Query<ModelQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    check_type(
        &headers,
        &[
            "text/csv",
            "text/plain",
            "application/csv",
            "application/vnd.ms-excel",
        ],
        "a CSV file",
    )?;
    let bytes = upload(body, studio.config().max_upload)?;
    let path = models::resolve(&studio.config().runs_dir, Kind::Logreg, &query.model)?;
    let (rows, csv) = studio
        .work(move |inner| {
            let work = tempfile::Builder::new()
                .prefix("casebook-serve-")
                .tempdir_in(&inner.config.temp_dir)
                .map_err(|e| ApiError::internal(format!("cannot make a temporary folder: {e}")))?;
            let input = work.path().join("upload.csv");
            let output = work.path().join("predictions.csv");
            std::fs::write(&input, &bytes)
                .map_err(|e| ApiError::internal(format!("cannot keep the upload: {e}")))?;
            let rows = casebook_logreg::infer::predict_csv(
                &path,
                &input,
                &output,
                &casebook_core::observe::Silent,
            )
            .map_err(|e| {
                // The temporary path means nothing to the person who uploaded.
                let message = format!("{e:#}").replace(&input.display().to_string(), "the upload");
                ApiError::unprocessable(message)
            })?;
            let csv = std::fs::read(&output)
                .map_err(|e| ApiError::internal(format!("cannot read the predictions: {e}")))?;
            Ok((rows, csv))
        })
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::HeaderName::from_static("x-rows"), rows.to_string()),
        ],
        csv,
    )
        .into_response())
}

/// Two photos to compare, each as base64 of its file.
#[derive(Debug, Deserialize)]
pub struct VerifyRequest {
    first: String,
    second: String,
}

/// `?model=NAME` and `&upsample=N` (0–2) for the faces.
#[derive(Debug, Deserialize)]
pub struct FaceQuery {
    #[serde(default = "builtin")]
    model: String,
    #[serde(default = "one")]
    upsample: usize,
}

/// How many times the face detector upsamples a photo, unless told: 1
/// (faces of ~20 px and up), as the CLI's `--upsample`.
pub(crate) fn one() -> usize {
    1
}

pub(crate) fn check_upsample(upsample: usize) -> Result<(), ApiError> {
    if upsample > 2 {
        return Err(ApiError::bad_request("upsample is 0, 1 or 2"));
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct FaceAnswer {
    /// Faces found in the photo; the largest is compared.
    found: usize,
    /// The compared face's box: left, top, right, bottom.
    rect: [i64; 4],
    /// The aligned 150×150 chip the encoder saw, as a PNG data URL.
    chip: String,
}

#[derive(Debug, Serialize)]
pub struct VerifyAnswer {
    distance: f32,
    same_person: bool,
    threshold: f32,
    threshold_source: String,
    faces: [FaceAnswer; 2],
}

/// Are the main faces of two photos the same person? As `casebook face verify`.
pub async fn faces_verify(
    State(studio): State<Studio>,
    Query(query): Query<FaceQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<VerifyAnswer>, ApiError> {
    use base64::Engine;
    use casebook_faces::infer::{main_face, FacePipeline, FoundFace, MIN_IMAGE_SIDE};
    let bytes = upload(body, studio.config().max_upload)?;
    let request: VerifyRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "send {{\"first\": base64, \"second\": base64}}: {e}"
        ))
    })?;
    check_upsample(query.upsample)?;
    let path = models::resolve(&studio.config().runs_dir, Kind::Face, &query.model)?;
    studio
        .work(move |inner| {
            let pipeline = inner
                .faces
                .get(&path, |p| FacePipeline::load(&p.to_string_lossy()))?;
            let pipeline = pipeline.lock().unwrap_or_else(|e| e.into_inner());
            let engine = base64::engine::general_purpose::STANDARD;
            // Each photo's compared face, and how many faces it shows.
            let (mut faces, mut counts): (Vec<FoundFace>, Vec<usize>) = (Vec::new(), Vec::new());
            for (which, data) in [("first", &request.first), ("second", &request.second)] {
                let file = engine.decode(data.as_bytes()).map_err(|e| {
                    ApiError::bad_request(format!("the {which} photo is not base64: {e}"))
                })?;
                let image = casebook_vision::decode_rgb(&file)
                    .map_err(|e| ApiError::unprocessable(format!("the {which} photo: {e}")))?;
                if image.width() < MIN_IMAGE_SIDE || image.height() < MIN_IMAGE_SIDE {
                    return Err(ApiError::unprocessable(format!(
                        "the {which} photo is {}×{} pixels, too small to find a face in",
                        image.width(),
                        image.height()
                    )));
                }
                let mut found = pipeline.find(&image, query.upsample);
                let count = found.len();
                let Some(i) = main_face(&found) else {
                    return Err(ApiError::unprocessable(format!(
                        "no face found in the {which} photo{}",
                        if query.upsample < 2 {
                            " (try a larger upsample for small faces)"
                        } else {
                            ""
                        }
                    )));
                };
                faces.push(found.swap_remove(i));
                counts.push(count);
            }
            let vectors = pipeline
                .encode(&faces)
                .map_err(|e| ApiError::internal(format!("{e:#}")))?;
            let distance = casebook_faces::gallery::distance(&vectors[0], &vectors[1]);
            let threshold = pipeline.encoder.threshold.distance;
            let answer = |face: &FoundFace, count: usize| -> Result<FaceAnswer, ApiError> {
                let png = casebook_vision::png_bytes(&face.chip)
                    .map_err(|e| ApiError::internal(format!("{e:#}")))?;
                let r = face.detection.rect;
                Ok(FaceAnswer {
                    found: count,
                    rect: [r.left, r.top, r.right, r.bottom],
                    chip: format!("data:image/png;base64,{}", engine.encode(png)),
                })
            };
            Ok(VerifyAnswer {
                distance,
                same_person: distance <= threshold,
                threshold,
                threshold_source: pipeline.encoder.threshold.source.clone(),
                faces: [answer(&faces[0], counts[0])?, answer(&faces[1], counts[1])?],
            })
        })
        .await
        .map(Json)
}

/// `?gallery=RUN&upsample=N` for identification.
#[derive(Debug, Deserialize)]
pub struct IdentifyQuery {
    #[serde(default)]
    gallery: String,
    #[serde(default = "one")]
    upsample: usize,
}

#[derive(Debug, Serialize)]
pub struct IdentifiedFace {
    /// left, top, right, bottom
    rect: [i64; 4],
    chip: String,
    /// The enrolled person within the threshold; none: unknown.
    person: Option<String>,
    nearest: Option<Candidate>,
    runner_up: Option<Candidate>,
}

#[derive(Debug, Serialize)]
pub struct IdentifyAnswer {
    faces: Vec<IdentifiedFace>,
    threshold: f32,
    people: usize,
    width: u32,
    height: u32,
}

/// Who is in the photo? Every face against a gallery (an enrolment run),
/// as `casebook face identify` does: the nearest person within the
/// encoder's threshold, or unknown.
pub async fn faces_identify(
    State(studio): State<Studio>,
    Query(query): Query<IdentifyQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IdentifyAnswer>, ApiError> {
    use base64::Engine;
    use casebook_faces::gallery::Gallery;
    use casebook_faces::infer::{FacePipeline, MIN_IMAGE_SIDE};
    check_type(&headers, &["image/"], "an image (PNG or JPEG)")?;
    let bytes = upload(body, studio.config().max_upload)?;
    check_upsample(query.upsample)?;
    if query.gallery.is_empty() {
        return Err(ApiError::bad_request(
            "say which gallery (an enrolment run) to look people up in",
        ));
    }
    let gallery = models::resolve(&studio.config().runs_dir, Kind::Gallery, &query.gallery)?;
    let encoder = models::resolve(
        &studio.config().runs_dir,
        Kind::Face,
        casebook_core::model_file::BUILTIN,
    )?;
    studio
        .work(move |inner| {
            let image = casebook_vision::decode_rgb(&bytes).map_err(ApiError::unprocessable)?;
            if image.width() < MIN_IMAGE_SIDE || image.height() < MIN_IMAGE_SIDE {
                return Err(ApiError::unprocessable(format!(
                    "the photo is {}×{} pixels, too small to find a face in",
                    image.width(),
                    image.height()
                )));
            }
            let book = inner.galleries.get(&gallery, Gallery::load)?;
            let book = book.lock().unwrap_or_else(|e| e.into_inner());
            let pipeline = inner
                .faces
                .get(&encoder, |p| FacePipeline::load(&p.to_string_lossy()))?;
            let pipeline = pipeline.lock().unwrap_or_else(|e| e.into_inner());
            book.check_encoder(&pipeline.encoder)
                .map_err(|e| ApiError::unprocessable(format!("{e:#}")))?;
            let threshold = pipeline.encoder.threshold.distance;
            let faces = pipeline.find(&image, query.upsample);
            let vectors = pipeline
                .encode(&faces)
                .map_err(|e| ApiError::internal(format!("{e:#}")))?;
            let engine = base64::engine::general_purpose::STANDARD;
            let faces = faces
                .iter()
                .zip(&vectors)
                .map(|(face, vector)| {
                    let who = book.identify(vector, threshold);
                    let png = casebook_vision::png_bytes(&face.chip)
                        .map_err(|e| ApiError::internal(format!("{e:#}")))?;
                    let r = face.detection.rect;
                    Ok(IdentifiedFace {
                        rect: [r.left, r.top, r.right, r.bottom],
                        chip: format!("data:image/png;base64,{}", engine.encode(png)),
                        person: who.person,
                        nearest: who.nearest,
                        runner_up: who.runner_up,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            Ok(IdentifyAnswer {
                faces,
                threshold,
                people: book.people().len(),
                width: image.width(),
                height: image.height(),
            })
        })
        .await
        .map(Json)
}
