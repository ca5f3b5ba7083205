//! Every endpoint without a browser: real models on real inputs, and every
//! bad input answered with its status and one clear line.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use casebook_serve::Config;
use http_body_util::BodyExt;
use tower::ServiceExt;

mod common;
use common::{logreg_run, noise, scenes, wav, word_in_noise};

struct Reply {
    status: StatusCode,
    content_type: String,
    rows: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    /// The one-line reason of a refusal.
    fn error(&self) -> String {
        let message = self.json()["error"].as_str().unwrap().to_string();
        assert!(!message.contains('\n'), "{message}");
        message
    }
}

async fn call(app: &Router, method: &str, uri: &str, kind: Option<&str>, body: Vec<u8>) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(kind) = kind {
        request = request.header("content-type", kind);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (status, content_type, rows) = (
        response.status(),
        header("content-type").unwrap_or_default(),
        header("x-rows"),
    );
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        content_type,
        rows,
        body,
    }
}

async fn get(app: &Router, uri: &str) -> Reply {
    call(app, "GET", uri, None, Vec::new()).await
}

async fn post(app: &Router, uri: &str, kind: &str, body: Vec<u8>) -> Reply {
    call(app, "POST", uri, Some(kind), body).await
}

struct Fixture {
    _dir: tempfile::TempDir,
    runs: PathBuf,
    temp: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (runs, temp) = (dir.path().join("runs"), dir.path().join("tmp"));
    std::fs::create_dir_all(&runs).unwrap();
    std::fs::create_dir_all(&temp).unwrap();
    Fixture {
        _dir: dir,
        runs,
        temp,
    }
}

fn studio(f: &Fixture) -> Router {
    casebook_serve::router(Config {
        runs_dir: f.runs.clone(),
        temp_dir: f.temp.clone(),
        max_upload: 1 << 20,
        ..Config::default()
    })
}

#[tokio::test]
async fn every_page_and_asset_is_served() {
    let f = fixture();
    let app = studio(&f);
    for (path, marker) in [
        ("/", "Pick a case"),
        ("/runs", "No run folders"),
        ("/daynight", "id=files"),
        ("/trigger", "id=wav"),
        ("/logreg", "id=csv"),
        ("/faces", "id=enroll-folder"),
        ("/style", "id=transfer"),
        ("/human", "No study with a page yet"),
    ] {
        let reply = get(&app, path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert!(reply.content_type.starts_with("text/html"), "{path}");
        assert!(reply.text().contains(marker), "{path} lacks {marker}");
        assert!(reply.text().contains("/assets/app.js"), "{path}");
    }
    assert!(get(&app, "/assets/app.js")
        .await
        .content_type
        .starts_with("text/javascript"));
    assert!(get(&app, "/assets/style.css")
        .await
        .content_type
        .starts_with("text/css"));
    assert_eq!(get(&app, "/assets/secret.txt").await.status, 404);
    assert_eq!(get(&app, "/nowhere").await.status, 404);
}

#[tokio::test]
async fn the_built_in_model_tells_day_from_night_through_the_api() {
    let f = fixture();
    let app = studio(&f);
    let scenes_dir = f.temp.parent().unwrap().join("scenes");
    let scenes = scenes(&scenes_dir, 40);
    let mut right = 0;
    for (path, truth) in &scenes {
        let reply = post(
            &app,
            "/api/image/predict?model=builtin",
            "image/png",
            std::fs::read(path).unwrap(),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let answer = reply.json();
        assert_eq!(answer["classes"], serde_json::json!(["day", "night"]));
        let sum: f64 = answer["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-4, "{answer}");
        right += usize::from(answer["label"] == truth.as_str());
    }
    // The CLI's test of the same model on generated scenes sees ~99 %.
    assert!(right >= 34, "{right} of {} right", scenes.len());
}

#[tokio::test]
async fn bad_images_and_bad_model_names_get_one_clear_line() {
    let f = fixture();
    let app = studio(&f);
    let png = {
        let mut bytes = Vec::new();
        image::RgbImage::from_pixel(40, 30, image::Rgb([200, 180, 90]))
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        bytes
    };
    let predict = "/api/image/predict";
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (predict, "image/png", Vec::new(), 400, "empty"),
        (
            predict,
            "image/png",
            b"not an image at all".to_vec(),
            422,
            "not a readable image",
        ),
        (predict, "text/plain", png.clone(), 415, "takes an image"),
        (
            predict,
            "image/png",
            vec![0x89; 2 << 20],
            413,
            "larger than 1 MB",
        ),
        (
            "/api/image/predict?model=nosuch",
            "image/png",
            png.clone(),
            404,
            "no model in run nosuch",
        ),
        (
            "/api/image/predict?model=../../etc",
            "image/png",
            png.clone(),
            400,
            "run folder's name",
        ),
        (
            "/api/image/predict?model=%2Fetc%2Fpasswd",
            "image/png",
            png.clone(),
            400,
            "run folder's name",
        ),
    ];
    for (uri, kind, body, status, words) in cases {
        let reply = post(&app, uri, kind, body).await;
        assert_eq!(reply.status, status, "{uri} {kind}: {}", reply.text());
        assert!(reply.error().contains(words), "{uri}: {}", reply.error());
    }
    // A JPEG cut short is refused, as by the CLI.
    let mut jpeg = Vec::new();
    image::RgbImage::from_pixel(64, 64, image::Rgb([10, 20, 30]))
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    jpeg.truncate(jpeg.len() - 40);
    let reply = post(&app, predict, "image/jpeg", jpeg).await;
    assert_eq!(reply.status, 422);
    assert!(
        reply.error().contains("truncated JPEG"),
        "{}",
        reply.error()
    );
    // The good one, with no content type declared.
    let reply = call(&app, "POST", predict, None, png).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        (
            reply.json()["width"].as_u64(),
            reply.json()["height"].as_u64()
        ),
        (Some(40), Some(30))
    );
}

#[tokio::test]
async fn the_trigger_page_finds_the_word_in_an_upload_at_another_rate() {
    let f = fixture();
    let app = studio(&f);
    // A held-out voice (never trained on), said 1 s into 4 s of quiet noise, at 44.1 kHz.
    let (audio, said_until) = word_in_noise(44_100);
    let reply = post(
        &app,
        "/api/trigger/detect?model=builtin&threshold=0.5",
        "audio/wav",
        audio,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let answer = reply.json();
    assert_eq!(answer["rate"], 44_100);
    assert!((answer["seconds"].as_f64().unwrap() - 4.0).abs() < 1e-3);
    assert!(answer["waveform"].as_array().unwrap().len() <= 1000);
    let times: Vec<f64> = answer["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["time"].as_f64().unwrap())
        .collect();
    assert_eq!(times.len(), 1, "{answer}");
    assert!(
        times[0] > 1.0 && times[0] < said_until + 1.0,
        "{times:?}, word 1.0–{said_until:.2} s"
    );

    let quiet = post(
        &app,
        "/api/trigger/detect",
        "audio/x-wav",
        wav(16_000, &noise(48_000, 0.003)),
    )
    .await;
    assert_eq!(quiet.status, 200, "{}", quiet.text());
    assert_eq!(quiet.json()["detections"], serde_json::json!([]));
    // The model's own threshold when none is asked for.
    assert!(quiet.json()["threshold"].as_f64().unwrap() > 0.9);

    for (uri, kind, body, status, words) in [
        (
            "/api/trigger/detect",
            "audio/wav",
            b"RIFF....WAVE".to_vec(),
            422,
            "the upload",
        ),
        (
            "/api/trigger/detect",
            "image/png",
            wav(16_000, &[0.0; 100]),
            415,
            "a WAV file",
        ),
        (
            "/api/trigger/detect?threshold=1.5",
            "audio/wav",
            wav(16_000, &[0.0; 100]),
            400,
            "between 0 and 1",
        ),
        (
            "/api/trigger/detect?model=run.one",
            "audio/wav",
            wav(16_000, &[0.0; 100]),
            404,
            "no model in run run.one",
        ),
    ] {
        let reply = post(&app, uri, kind, body).await;
        assert_eq!(reply.status, status, "{uri} {kind}: {}", reply.text());
        assert!(reply.error().contains(words), "{uri}: {}", reply.error());
    }
}

fn leftovers(temp: &Path) -> Vec<String> {
    std::fs::read_dir(temp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect()
}

#[tokio::test]
async fn a_trained_logreg_run_scores_an_uploaded_csv_and_leaves_no_temporary_files() {
    let f = fixture();
    let data = f.temp.parent().unwrap().join("species.csv");
    logreg_run(&f.runs, &data);
    let app = studio(&f);

    let offers = get(&app, "/api/models/logreg").await.json();
    assert_eq!(
        offers,
        serde_json::json!([{"name": "species", "label": "run species"}])
    );
    assert_eq!(
        get(&app, "/api/models/image").await.json()[0]["name"],
        "builtin"
    );
    assert_eq!(get(&app, "/api/models/faces").await.status, 404);

    let csv = std::fs::read(&data).unwrap();
    let reply = post(&app, "/api/logreg/predict?model=species", "text/csv", csv).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.content_type.starts_with("text/csv"));
    assert_eq!(reply.rows.as_deref(), Some("400"));
    let text = reply.text();
    let header = text.lines().next().unwrap();
    assert!(
        header.contains("p_bird") && header.contains("predicted_species"),
        "{header}"
    );
    assert_eq!(text.lines().count(), 401);

    let reply = post(
        &app,
        "/api/logreg/predict?model=species",
        "text/csv",
        b"a,b\n1,2\n".to_vec(),
    )
    .await;
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert!(
        reply.error().contains("no column named"),
        "{}",
        reply.error()
    );
    // The model's columns but no rows: the CLI names the file, the studio "the upload".
    let header_only = format!(
        "{}\n",
        String::from_utf8_lossy(&std::fs::read(&data).unwrap())
            .lines()
            .next()
            .unwrap()
    );
    let reply = post(
        &app,
        "/api/logreg/predict?model=species",
        "text/csv",
        header_only.into_bytes(),
    )
    .await;
    assert_eq!(reply.status, 422, "{}", reply.text());
    let message = reply.error();
    assert!(
        !message.contains(&f.temp.display().to_string()),
        "a server path leaked: {message}"
    );
    assert!(message.contains("the upload"), "{message}");
    assert_eq!(
        post(&app, "/api/logreg/predict", "text/csv", b"a\n1\n".to_vec())
            .await
            .status,
        404
    );
    assert_eq!(
        post(
            &app,
            "/api/logreg/predict?model=species",
            "image/png",
            b"a\n".to_vec()
        )
        .await
        .status,
        415
    );
    assert_eq!(
        leftovers(&f.temp),
        Vec::<String>::new(),
        "temporary files were left"
    );

    // The run is listed with its numbers and its report served; nothing else is.
    let runs = get(&app, "/api/runs").await.json();
    assert_eq!(runs[0]["name"], "species");
    assert_eq!(runs[0]["has_model"], true);
    assert!(
        !runs[0]["headline"].as_array().unwrap().is_empty(),
        "{runs}"
    );
    let page = get(&app, "/runs").await.text();
    assert!(
        page.contains("href=\"/runs/species/report.html\""),
        "{page}"
    );
    let report = get(&app, "/runs/species/report.html").await;
    assert_eq!(report.status, 200);
    assert!(report.content_type.starts_with("text/html"));
    assert_eq!(get(&app, "/runs/species/.lock").await.status, 400);
    assert_eq!(get(&app, "/runs/species/nothing.html").await.status, 404);
    assert_eq!(get(&app, "/runs/..%2F..%2Fetc/passwd").await.status, 400);
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/etc/hostname", f.runs.join("species/link.txt")).unwrap();
        assert_eq!(get(&app, "/runs/species/link.txt").await.status, 404);
    }
}

#[tokio::test]
async fn a_full_queue_is_answered_busy_not_grown() {
    let f = fixture();
    let app = casebook_serve::router(Config {
        runs_dir: f.runs.clone(),
        temp_dir: f.temp.clone(),
        max_waiting: 0,
        ..Config::default()
    });
    let reply = get(&app, "/api/models/image").await;
    assert_eq!(reply.status, 503);
    assert!(reply.error().contains("busy"));
}

/// The JSON states of a job's server-sent events, to its end.
async fn job_events(app: &Router, id: u64) -> Vec<serde_json::Value> {
    let reply = get(app, &format!("/api/jobs/{id}/events")).await;
    assert!(reply.content_type.starts_with("text/event-stream"));
    reply
        .text()
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn training_runs_as_a_job_followed_by_events_and_its_model_is_then_offered() {
    let f = fixture();
    let data = f.temp.parent().unwrap().join("species.csv");
    casebook_logreg::data::generate::write_table(
        &data,
        casebook_logreg::data::Mode::Multiclass,
        300,
        4,
    )
    .unwrap();
    let csv = std::fs::read(&data).unwrap();
    let app = studio(&f);

    let reply = post(
        &app,
        "/api/jobs/logreg-train?target=species&ignore=id",
        "text/csv",
        csv.clone(),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let id = reply.json()["id"].as_u64().unwrap();
    let states = job_events(&app, id).await;
    let last = states.last().unwrap();
    assert_eq!(last["status"], "done", "{states:?}");
    let run = last["run"].as_str().unwrap();
    assert!(run.starts_with("logreg-train-"), "{run}");
    assert!(f.runs.join(run).join("model.casebook").is_file());
    let offers = get(&app, "/api/models/logreg").await.json();
    assert_eq!(offers[0]["name"], run);
    let scored = post(
        &app,
        &format!("/api/logreg/predict?model={run}"),
        "text/csv",
        csv.clone(),
    )
    .await;
    assert_eq!(scored.status, 200, "{}", scored.text());

    // A column that is not there: the job fails with the library's line, leaving no run.
    let reply = post(
        &app,
        "/api/jobs/logreg-train?target=nosuch",
        "text/csv",
        csv.clone(),
    )
    .await;
    let failed = job_events(&app, reply.json()["id"].as_u64().unwrap()).await;
    let last = failed.last().unwrap();
    assert_eq!(last["status"], "failed", "{failed:?}");
    assert!(last["error"].as_str().unwrap().contains("nosuch"), "{last}");
    assert!(!last["error"]
        .as_str()
        .unwrap()
        .contains(&f.temp.display().to_string()));
    assert_eq!(
        std::fs::read_dir(&f.runs).unwrap().count(),
        1,
        "the failed run was left"
    );

    // One at a time: a second job waits, and cancelling it while it waits ends it unrun.
    let first = post(
        &app,
        "/api/jobs/logreg-train?target=species",
        "text/csv",
        csv.clone(),
    )
    .await
    .json();
    let second = post(
        &app,
        "/api/jobs/logreg-train?target=species",
        "text/csv",
        csv,
    )
    .await
    .json();
    assert_eq!(second["status"], "queued");
    let id = second["id"].as_u64().unwrap();
    assert_eq!(cancel(&app, id).await["status"], "cancelled");
    assert_eq!(
        job_events(&app, first["id"].as_u64().unwrap())
            .await
            .last()
            .unwrap()["status"],
        "done"
    );
    let jobs = get(&app, "/api/jobs").await.json();
    assert_eq!(jobs.as_array().unwrap().len(), 4);
    assert_eq!(std::fs::read_dir(&f.runs).unwrap().count(), 2);

    assert_eq!(
        post(
            &app,
            "/api/jobs/logreg-train",
            "text/csv",
            b"a\n1\n".to_vec()
        )
        .await
        .status,
        400
    );
    assert_eq!(get(&app, "/api/jobs/999/events").await.status, 404);
    assert_eq!(
        leftovers(&f.temp),
        Vec::<String>::new(),
        "temporary files were left"
    );
}

/// Live listening over a real socket: PCM in small messages as a page sends
/// it, each detection back as it fires; a bad rate is refused before the
/// upgrade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_listening_streams_audio_in_and_detections_out() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let f = fixture();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config {
        runs_dir: f.runs.clone(),
        temp_dir: f.temp.clone(),
        ..Config::default()
    };
    let server = tokio::spawn(casebook_serve::serve(
        listener,
        config,
        std::future::pending(),
    ));

    let url = format!("ws://{addr}/api/trigger/live?model=builtin&rate=16000&threshold=0.5");
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (audio, said_until) = word_in_noise(16_000);
    let pcm = &audio[44..]; // the WAV's data: 16-bit little-endian mono
    for piece in pcm.chunks(3200) {
        socket
            .send(Message::Binary(piece.to_vec().into()))
            .await
            .unwrap();
    }
    socket.send(Message::Text("end".into())).await.unwrap();
    let mut messages = Vec::new();
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Text(text) = message {
            messages.push(serde_json::from_str::<serde_json::Value>(&text).unwrap());
        }
    }
    assert_eq!(messages[0]["listening"], true, "{messages:?}");
    let times: Vec<f64> = messages[1..]
        .iter()
        .map(|m| m["time"].as_f64().unwrap())
        .collect();
    assert_eq!(times.len(), 1, "{messages:?}");
    assert!(times[0] > 1.0 && times[0] < said_until + 1.0, "{times:?}");

    let refused =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/trigger/live?rate=10")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400)
        }
        other => panic!("a 10 Hz stream was let in: {other:?}"),
    }
    server.abort();
}

/// A sample photo the faces crate ships (public domain / CC0), as base64.
fn face_photo(name: &str) -> String {
    use base64::Engine;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../faces/tests/fixtures/images")
        .join(name);
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap())
}

#[tokio::test]
async fn two_photos_are_verified_as_the_cli_does() {
    let f = fixture();
    let app = studio(&f);
    let verify = |first: &str, second: &str| {
        serde_json::json!({ "first": face_photo(first), "second": face_photo(second) })
            .to_string()
            .into_bytes()
    };
    let same = post(
        &app,
        "/api/faces/verify",
        "application/json",
        verify("edwin_a.png", "edwin_b.png"),
    )
    .await;
    assert_eq!(same.status, 200, "{}", same.text());
    let answer = same.json();
    assert_eq!(answer["same_person"], true, "{answer}");
    assert!(answer["faces"][0]["chip"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
    let other = post(
        &app,
        "/api/faces/verify",
        "application/json",
        verify("grace_hopper.png", "sally_ride.png"),
    )
    .await;
    assert_eq!(other.json()["same_person"], false, "{}", other.text());
    // The CLI's numbers on the same photos (the demo prints 0.298 and 0.731).
    assert!(
        (answer["distance"].as_f64().unwrap() - 0.298).abs() < 0.01,
        "{answer}"
    );

    let blank = {
        use base64::Engine;
        let mut png = Vec::new();
        image::RgbImage::from_pixel(120, 120, image::Rgb([128, 128, 128]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        base64::engine::general_purpose::STANDARD.encode(png)
    };
    for (body, status, words) in [
        (b"{}".to_vec(), 400, "base64"),
        (
            serde_json::json!({"first": "@@@", "second": blank})
                .to_string()
                .into_bytes(),
            400,
            "first photo is not base64",
        ),
        (
            serde_json::json!({"first": face_photo("edwin_a.png"), "second": blank})
                .to_string()
                .into_bytes(),
            422,
            "no face found in the second photo",
        ),
    ] {
        let reply = post(&app, "/api/faces/verify", "application/json", body).await;
        assert_eq!(reply.status, status, "{}", reply.text());
        assert!(reply.error().contains(words), "{}", reply.error());
    }
    assert_eq!(
        post(
            &app,
            "/api/faces/verify?upsample=9",
            "application/json",
            verify("edwin_a.png", "edwin_b.png")
        )
        .await
        .status,
        400
    );
}

/// Cancels job `id` once its state (polled) satisfies `ready`; returns
/// its last state.
async fn cancel_once(
    app: &Router,
    id: u64,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..400 {
        let jobs = get(app, "/api/jobs").await.json();
        let job = jobs
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == id)
            .unwrap()
            .clone();
        if ready(&job) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    cancel(app, id).await;
    job_events(app, id).await.pop().unwrap()
}

/// Asks to cancel job `id`; returns its state then.
async fn cancel(app: &Router, id: u64) -> serde_json::Value {
    let reply = post(
        app,
        &format!("/api/jobs/{id}/cancel"),
        "text/plain",
        Vec::new(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

/// A `multipart/form-data` body of files as a page sends a picked folder
/// (each part's file name is its path in the folder); and its content type.
fn folder_upload(files: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "casebook-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Files of a folder upload: path in the folder, bytes.
type Folder = Vec<(String, Vec<u8>)>;

/// `count` generated scenes as a folder upload: `day/…` and `night/…`.
fn scene_folder(f: &Fixture, count: usize) -> Folder {
    scenes(&f.temp.parent().unwrap().join("scenes"), count)
        .iter()
        .map(|(path, class)| {
            let name = path.file_name().unwrap().to_string_lossy();
            (format!("{class}/{name}"), std::fs::read(path).unwrap())
        })
        .collect()
}

/// The runs folder's entries (names).
fn runs_in(runs: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(runs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_folder_upload_trains_an_image_classifier_kept_whole_in_its_run() {
    let f = fixture();
    let app = studio(&f);
    let mut files = scene_folder(&f, 60);
    files.push(("day/notes.txt".to_string(), b"not a photo".to_vec()));
    let (kind, body) = folder_upload(&files);
    let reply = post(
        &app,
        "/api/jobs/image-train?epochs=3&resolution=32",
        &kind,
        body,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let job = reply.json();
    assert_eq!(job["title"], "image classifier on 60 photos");
    let states = job_events(&app, job["id"].as_u64().unwrap()).await;
    let last = states.last().unwrap();
    assert_eq!(last["status"], "done", "{states:?}");
    assert!(
        last["reading"]
            .as_str()
            .unwrap()
            .starts_with("test accuracy"),
        "{last}"
    );
    let run = f.runs.join(last["run"].as_str().unwrap());
    assert!(run.join("model.casebook").is_file());
    assert!(run.join("report.html").is_file());
    // The photos under server-made names, each traced to the name it was sent as.
    assert!(run.join("data/day/00001.png").is_file() || run.join("data/night/00001.png").is_file());
    let list = std::fs::read_to_string(run.join("uploaded.csv")).unwrap();
    assert_eq!(list.lines().count(), 61, "{list}");
    assert!(!list.contains("notes.txt"));
    let offers = get(&app, "/api/models/image").await.json();
    assert_eq!(offers[1]["name"], last["run"], "{offers}");

    // Refused before any work, leaving no run folder behind.
    let png = files[0].1.clone();
    let cases: Vec<(&str, Folder, u16, &str)> = vec![
        (
            "epochs=0",
            vec![("day/a.png".into(), png.clone())],
            400,
            "epochs",
        ),
        (
            "",
            vec![("a.png".into(), png.clone())],
            400,
            "not in a sub-folder",
        ),
        (
            "",
            vec![("../x.png".into(), png.clone())],
            400,
            "folder name",
        ),
        (
            "",
            vec![("day/a.txt".into(), b"text".to_vec())],
            400,
            "no png/jpg/jpeg file",
        ),
        (
            "",
            vec![("day/big.png".into(), vec![0; (1 << 20) + 1])],
            413,
            "larger than 1 MB",
        ),
    ];
    for (query, files, status, words) in cases {
        let (kind, body) = folder_upload(&files);
        let reply = post(&app, &format!("/api/jobs/image-train?{query}"), &kind, body).await;
        assert_eq!(reply.status, status, "{query} {}", reply.text());
        assert!(reply.error().contains(words), "{}", reply.error());
    }
    // A job cancelled while it waits leaves no run folder behind.
    let some: Folder = files.iter().step_by(3).take(20).cloned().collect();
    let (kind, body) = folder_upload(&some);
    let first = post(
        &app,
        "/api/jobs/image-train?epochs=1&resolution=16",
        &kind,
        body.clone(),
    )
    .await;
    let second = post(
        &app,
        "/api/jobs/image-train?epochs=1&resolution=16",
        &kind,
        body,
    )
    .await
    .json();
    assert_eq!(second["status"], "queued", "{second}");
    let waiting = f.runs.join(second["run"].as_str().unwrap());
    assert!(waiting.join("data").is_dir());
    let id = second["id"].as_u64().unwrap();
    assert_eq!(cancel(&app, id).await["status"], "cancelled");
    assert!(!waiting.exists(), "the cancelled job's run folder was left");
    let done = job_events(&app, first.json()["id"].as_u64().unwrap()).await;
    assert_eq!(done.last().unwrap()["status"], "done", "{done:?}");
    // Cancelled while it trains, a job stops and says it was cancelled.
    let (kind, body) = folder_upload(&some);
    let long = post(
        &app,
        "/api/jobs/image-train?epochs=200&resolution=16",
        &kind,
        body,
    )
    .await;
    let id = long.json()["id"].as_u64().unwrap();
    let last = cancel_once(&app, id, |job| {
        job["status"] == "running" && job["phase"] != "loading" && job["phase"] != "starting"
    })
    .await;
    assert_eq!(last["status"], "cancelled", "{last}");
    let before = runs_in(&f.runs);

    // Two classes are needed: the job fails with the library's line and its run goes.
    let (kind, body) = folder_upload(&[("day/a.png".into(), png)]);
    let reply = post(&app, "/api/jobs/image-train", &kind, body).await;
    let states = job_events(&app, reply.json()["id"].as_u64().unwrap()).await;
    let last = states.last().unwrap();
    assert_eq!(last["status"], "failed", "{states:?}");
    let error = last["error"].as_str().unwrap();
    assert!(
        error.starts_with("the uploaded folder holds only one class ('day')"),
        "{error}"
    );
    assert_eq!(
        runs_in(&f.runs),
        before,
        "a refused or failed upload left a run folder"
    );
}

#[tokio::test]
async fn a_folder_of_photos_is_grouped_by_person() {
    use base64::Engine;
    let f = fixture();
    let app = studio(&f);
    let photo = |name: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(face_photo(name))
            .unwrap()
    };
    let files: Vec<(String, Vec<u8>)> = [
        "edwin_a.png",
        "edwin_b.png",
        "grace_hopper.png",
        "sally_ride.png",
    ]
    .iter()
    .map(|name| (name.to_string(), photo(name)))
    .collect();
    let (kind, body) = folder_upload(&files);
    let reply = post(&app, "/api/jobs/face-cluster", &kind, body).await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let states = job_events(&app, reply.json()["id"].as_u64().unwrap()).await;
    let last = states.last().unwrap();
    assert_eq!(last["status"], "done", "{states:?}");
    assert_eq!(last["reading"], "4 faces in 3 groups", "{last}");
    let run = f.runs.join(last["run"].as_str().unwrap());
    let clusters = std::fs::read_to_string(run.join("clusters.csv")).unwrap();
    let group_of = |stored: &str| {
        clusters
            .lines()
            .find(|l| l.starts_with(stored))
            .and_then(|l| l.rsplit(',').next())
            .unwrap_or_else(|| panic!("{stored} not in {clusters}"))
            .to_string()
    };
    // Edwin's two photos (sent first) in one group.
    assert_eq!(group_of("00001.png"), group_of("00002.png"), "{clusters}");
    assert_ne!(group_of("00001.png"), group_of("00003.png"), "{clusters}");

    for query in ["method=k", "method=spectral", "upsample=5"] {
        let (kind, body) = folder_upload(&files[..1]);
        let reply = post(
            &app,
            &format!("/api/jobs/face-cluster?{query}"),
            &kind,
            body,
        )
        .await;
        assert_eq!(reply.status, 400, "{query}");
    }
}

#[tokio::test]
async fn a_style_transfer_job_publishes_the_picture_as_it_forms() {
    use base64::Engine;
    let f = fixture();
    let app = studio(&f);
    let engine = base64::engine::general_purpose::STANDARD;
    let scenes_dir = f.temp.parent().unwrap().join("scenes");
    let scene = engine.encode(std::fs::read(&scenes(&scenes_dir, 2)[0].0).unwrap());
    let request = serde_json::json!({"content": scene, "size": 48, "iterations": 10});
    let reply = post(
        &app,
        "/api/jobs/style-transfer",
        "application/json",
        request.to_string().into_bytes(),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let id = reply.json()["id"].as_u64().unwrap();
    let states = job_events(&app, id).await;
    let last = states.last().unwrap();
    assert_eq!(last["status"], "done", "{states:?}");
    assert!(last["pictures"].as_u64().unwrap() >= 5, "{last}");
    let picture = get(&app, &format!("/api/jobs/{id}/picture")).await;
    assert_eq!(picture.content_type, "image/png");
    let latest = image::load_from_memory(&picture.body).unwrap();
    assert_eq!(latest.width().max(latest.height()), 48);
    let run = f.runs.join(last["run"].as_str().unwrap());
    assert!(run.join("result.png").is_file() && run.join("report.html").is_file());

    let tiny = {
        let mut png = Vec::new();
        image::RgbImage::new(8, 8)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        engine.encode(png)
    };
    for (request, status, words) in [
        (
            serde_json::json!({"content": scene, "size": 4096}),
            400,
            "at most 512",
        ),
        (
            serde_json::json!({"content": scene, "iterations": 0}),
            400,
            "iterations",
        ),
        (serde_json::json!({"content": "@@"}), 400, "not base64"),
        (serde_json::json!({"content": tiny}), 422, "at least 16"),
        (
            serde_json::json!({"content": scene, "style": engine.encode(b"GIF89a")}),
            422,
            "style picture",
        ),
        (serde_json::json!({"photo": scene}), 400, "unknown field"),
        (
            serde_json::json!({"content": scene, "features": "/etc/vgg.pth"}),
            400,
            "'builtin' or 'random'",
        ),
    ] {
        let reply = post(
            &app,
            "/api/jobs/style-transfer",
            "application/json",
            request.to_string().into_bytes(),
        )
        .await;
        assert_eq!(reply.status, status, "{}", reply.text());
        assert!(reply.error().contains(words), "{}", reply.error());
    }
    assert_eq!(get(&app, "/api/jobs/999/picture").await.status, 404);

    // Cancelled while it runs, a transfer ends early with the picture so far.
    let long = serde_json::json!({"content": scene, "size": 48, "iterations": 100000});
    let reply = post(
        &app,
        "/api/jobs/style-transfer",
        "application/json",
        long.to_string().into_bytes(),
    )
    .await;
    let id = reply.json()["id"].as_u64().unwrap();
    let last = cancel_once(&app, id, |job| {
        job["status"] == "running" && job["done"].as_u64() > Some(0)
    })
    .await;
    assert_eq!(last["status"], "done", "{last}");
    assert!(
        last["reading"]
            .as_str()
            .unwrap()
            .starts_with("stopped after"),
        "{last}"
    );
    assert!(f
        .runs
        .join(last["run"].as_str().unwrap())
        .join("result.png")
        .is_file());
}

#[tokio::test]
async fn people_enrolled_from_a_folder_are_then_identified_in_photos() {
    use base64::Engine;
    let f = fixture();
    let app = studio(&f);
    let photo = |name: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(face_photo(name))
            .unwrap()
    };
    let people: Folder = [
        ("edwin", "edwin_a.png"),
        ("grace", "grace_hopper.png"),
        ("sally", "sally_ride.png"),
    ]
    .iter()
    .map(|(person, file)| (format!("{person}/{file}"), photo(file)))
    .collect();
    let (kind, body) = folder_upload(&people);
    let reply = post(&app, "/api/jobs/face-enroll", &kind, body).await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let states = job_events(&app, reply.json()["id"].as_u64().unwrap()).await;
    let last = states.last().unwrap();
    assert_eq!(last["status"], "done", "{states:?}");
    assert_eq!(last["reading"], "3 people from 3 photos");
    let gallery = last["run"].as_str().unwrap().to_string();
    let report = std::fs::read_to_string(f.runs.join(&gallery).join("report.html")).unwrap();
    assert!(
        report.contains("3 people enrolled from 3 photos"),
        "{report}"
    );
    let offers = get(&app, "/api/models/gallery").await.json();
    assert_eq!(offers[0]["name"], gallery.as_str(), "{offers}");

    let uri = format!("/api/faces/identify?gallery={gallery}");
    let identify = |file: &str| post(&app, &uri, "image/png", photo(file));
    let answer = identify("edwin_b.png").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let answer = answer.json();
    assert_eq!(answer["people"], 3);
    assert_eq!(answer["faces"][0]["person"], "edwin", "{answer}");
    assert_eq!(answer["faces"][0]["nearest"]["name"], "edwin");
    // Someone not enrolled is unknown, though someone is always nearest.
    let stranger = identify("cameraman.png").await.json();
    assert_eq!(
        stranger["faces"][0]["person"],
        serde_json::Value::Null,
        "{stranger}"
    );
    assert!(
        stranger["faces"][0]["nearest"]["distance"]
            .as_f64()
            .unwrap()
            > answer["threshold"].as_f64().unwrap()
    );

    for (uri, status, words) in [
        ("/api/faces/identify", 400, "which gallery"),
        (
            "/api/faces/identify?gallery=nosuch",
            404,
            "no model in run nosuch",
        ),
        ("/api/faces/identify?gallery=../x", 400, "run folder's name"),
        ("/api/faces/identify?gallery=builtin", 404, "no built-in"),
    ] {
        let reply = post(&app, uri, "image/png", photo("edwin_b.png")).await;
        assert_eq!(reply.status, status, "{uri}: {}", reply.text());
        assert!(reply.error().contains(words), "{}", reply.error());
    }
    let uri = format!("/api/faces/identify?gallery={gallery}");
    assert_eq!(
        post(&app, &uri, "text/html", b"<p>".to_vec()).await.status,
        415
    );
    assert_eq!(
        post(&app, &uri, "image/png", b"not a png".to_vec())
            .await
            .status,
        422
    );
    // Enrolment needs a sub-folder per person; a folder with no face fails as the CLI does.
    let (kind, body) = folder_upload(&[("edwin_a.png".into(), photo("edwin_a.png"))]);
    assert_eq!(
        post(&app, "/api/jobs/face-enroll", &kind, body)
            .await
            .status,
        400
    );
    let blank = {
        let mut png = Vec::new();
        image::RgbImage::from_pixel(120, 120, image::Rgb([128, 128, 128]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    };
    let (kind, body) = folder_upload(&[("nobody/blank.png".into(), blank)]);
    let reply = post(&app, "/api/jobs/face-enroll", &kind, body).await;
    let last = job_events(&app, reply.json()["id"].as_u64().unwrap())
        .await
        .pop()
        .unwrap();
    assert_eq!(last["status"], "failed");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("no face of nobody could be enrolled"),
        "{last}"
    );
    assert_eq!(runs_in(&f.runs), vec![gallery]);
}

#[tokio::test]
async fn human_studies_are_made_served_answered_and_scored_in_the_studio() {
    let f = fixture();
    let app = studio(&f);
    let reply = post(
        &app,
        "/api/jobs/trigger-human-study?count=2",
        "text/plain",
        Vec::new(),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let states = job_events(&app, reply.json()["id"].as_u64().unwrap()).await;
    let last = states.last().unwrap();
    assert_eq!(last["status"], "done", "{states:?}");
    let run = last["run"].as_str().unwrap().to_string();
    let listed = get(&app, "/human").await.text();
    assert!(
        listed.contains(&format!("href=\"/human/{run}\"")),
        "{listed}"
    );
    assert!(listed.contains("not yet answered"));
    let page = get(&app, &format!("/human/{run}")).await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("8 questions"), "{}", page.text());

    // Every question answered right, as the key says.
    let key: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.runs.join(&run).join("human-key.json")).unwrap())
            .unwrap();
    let right: serde_json::Map<String, serde_json::Value> = key["questions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, entry)| (id.clone(), entry["label"].clone()))
        .collect();
    let answers = serde_json::json!({"key": "/etc/passwd", "answers": right});
    let uri = format!("/human/{run}/answers");
    let scored = post(
        &app,
        &uri,
        "application/json",
        answers.to_string().into_bytes(),
    )
    .await;
    assert_eq!(scored.status, 200, "{}", scored.text());
    let scored = scored.json();
    assert!(
        scored["summary"]
            .as_str()
            .unwrap()
            .starts_with("rate (Hz) 4000: 100 %"),
        "{scored}"
    );
    assert_eq!(scored["report"], format!("/runs/{run}/report.html"));
    let report = std::fs::read_to_string(f.runs.join(&run).join("report.html")).unwrap();
    assert!(
        report.contains("<h2>Human baseline</h2>") && report.contains("2/2"),
        "{report}"
    );
    assert!(f.runs.join(&run).join("human-answers.json").is_file());
    assert!(get(&app, "/human").await.text().contains("scored:"));

    let stray = serde_json::json!({"answers": {"q999": "yes"}})
        .to_string()
        .into_bytes();
    for (uri, body, status) in [
        (uri.clone(), stray, 422),
        (uri.clone(), b"not json".to_vec(), 400),
        (
            "/human/nosuch/answers".to_string(),
            b"{\"answers\":{}}".to_vec(),
            404,
        ),
        (
            "/human/..%2Fx/answers".to_string(),
            b"{\"answers\":{}}".to_vec(),
            400,
        ),
    ] {
        let reply = post(&app, &uri, "application/json", body).await;
        assert_eq!(reply.status, status, "{uri}: {}", reply.text());
    }
    assert_eq!(get(&app, "/human/nosuch").await.status, 404);
    for query in ["count=0", "count=1000"] {
        let reply = post(
            &app,
            &format!("/api/jobs/trigger-human-study?{query}"),
            "text/plain",
            Vec::new(),
        )
        .await;
        assert_eq!(reply.status, 400, "{query}");
    }

    // The image study on an uploaded folder: a model per resolution and a page.
    let files = scene_folder(&f, 40);
    let (kind, body) = folder_upload(&files);
    let reply = post(
        &app,
        "/api/jobs/image-resolution-study?resolutions=16,32&epochs=1&count=2",
        &kind,
        body,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let states = job_events(&app, reply.json()["id"].as_u64().unwrap()).await;
    let last = states.last().unwrap();
    assert_eq!(last["status"], "done", "{states:?}");
    let page = get(&app, &format!("/human/{}", last["run"].as_str().unwrap())).await;
    assert!(page.text().contains("4 questions"), "{}", page.text());
    let (kind, body) = folder_upload(&files[..2]);
    let reply = post(
        &app,
        "/api/jobs/image-resolution-study?resolutions=16,x",
        &kind,
        body,
    )
    .await;
    assert_eq!(reply.status, 400);
}
