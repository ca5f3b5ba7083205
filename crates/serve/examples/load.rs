//! A bounded load test of a running studio, on this computer only:
//! concurrent day/night predictions mixed with bad uploads (garbage, the
//! wrong type, too large, folder uploads that climb out of their folder or
//! hold no photo), then the numbers: requests per second and p99
//! latency of the good predictions, and any answer that was not the one
//! expected. `bench/serve_load.sh` starts `casebook serve --max-upload-mb 1`
//! (the too-large uploads are 2 MB) and runs this.
//!
//! cargo run --release -p casebook-serve --example load -- URL [REQUESTS] [CONCURRENCY] [MAX_SECONDS]

use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// What one request sends and the status it must get back.
#[derive(Clone)]
struct Shot {
    path: &'static str,
    content_type: &'static str,
    body: Bytes,
    expect: u16,
    good: bool,
}

/// A too-large upload may also see its connection closed while it is still
/// sending (the server answers 413 without reading the rest): status 0.
const CUT_OFF: u16 = 0;

const PREDICT: &str = "/api/image/predict?model=builtin";
const TRAIN: &str = "/api/jobs/image-train";
const BOUNDARY: &str = "casebook-load-7d1f";

/// A folder upload of one file named `name`.
fn folder(name: &str, bytes: &[u8]) -> Bytes {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    Bytes::from(body)
}

fn shots(scene: Bytes) -> Vec<Shot> {
    let multipart = "multipart/form-data; boundary=casebook-load-7d1f";
    // Three good predictions to every five bad uploads.
    let prediction = Shot {
        path: PREDICT,
        content_type: "image/png",
        body: scene.clone(),
        expect: 200,
        good: true,
    };
    let mut shots = vec![prediction.clone(), prediction.clone(), prediction];
    shots.extend([
        Shot {
            path: TRAIN,
            content_type: multipart,
            body: folder("../escape.png", &scene),
            expect: 400,
            good: false,
        },
        Shot {
            path: TRAIN,
            content_type: multipart,
            body: folder("day/notes.txt", b"no photo"),
            expect: 400,
            good: false,
        },
        Shot {
            path: PREDICT,
            content_type: "image/png",
            body: Bytes::from_static(b"\x89PNG\r\n\x1a\n garbage"),
            expect: 422,
            good: false,
        },
        Shot {
            path: PREDICT,
            content_type: "text/html",
            body: Bytes::from_static(b"<html>"),
            expect: 415,
            good: false,
        },
        Shot {
            path: PREDICT,
            content_type: "image/jpeg",
            body: Bytes::from(vec![0xFF; 2 << 20]),
            expect: 413,
            good: false,
        },
    ]);
    shots
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = args
        .first()
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    // Only this computer: the loopback address, never another host.
    let host = base
        .trim_start_matches("http://")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    assert!(
        host == "127.0.0.1" || host == "localhost",
        "the load test only sends to 127.0.0.1, not {host}"
    );
    let number =
        |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (requests, concurrency, max_seconds) = (
        number(1, 600) as usize,
        number(2, 8) as usize,
        number(3, 120),
    );

    let scene_dir = tempfile::tempdir().unwrap();
    casebook_image::data::generate::generate_dataset(
        scene_dir.path(),
        &casebook_image::data::generate::GenerateOptions {
            count: 2,
            night_fraction: 0.5,
            seed: 5,
        },
        || {},
    )
    .unwrap();
    let scene = std::fs::read(scene_dir.path().join("day/day_00000.png")).unwrap();
    let shots = std::sync::Arc::new(shots(Bytes::from(scene)));
    // A connection per request: the server closes one after refusing an upload
    // unread (413), and a pooled connection would carry that into the next.
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http();

    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(max_seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, base, shots, next) =
                (client.clone(), base.clone(), shots.clone(), next.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= requests || Instant::now() > deadline {
                        return seen;
                    }
                    let shot = &shots[i % shots.len()];
                    let request = axum::http::Request::post(format!("{base}{}", shot.path))
                        .header("content-type", shot.content_type)
                        .body(Full::new(shot.body.clone()))
                        .unwrap();
                    let sent = Instant::now();
                    let status = match client.request(request).await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let _ = response.into_body().collect().await;
                            status
                        }
                        Err(_) => 0,
                    };
                    seen.push((shot.good, shot.expect, status, sent.elapsed()));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cut_off = all
        .iter()
        .filter(|(_, want, got, _)| *want == 413 && *got == CUT_OFF)
        .count();
    let unexpected: Vec<_> = all
        .iter()
        .filter(|(_, want, got, _)| want != got && !(*want == 413 && *got == CUT_OFF))
        .collect();
    let mut good: Vec<Duration> = all
        .iter()
        .filter(|s| s.0 && s.2 == 200)
        .map(|s| s.3)
        .collect();
    good.sort();
    let quantile = |q: f64| {
        good.get(((good.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{} requests ({} predictions, {} bad uploads) in {elapsed:.1} s, {concurrency} at a time: {:.1} requests/s; predictions p50 {:.0} ms, p99 {:.0} ms; {cut_off} too-large uploads cut off while sending; {} answers not as expected",
        all.len(),
        good.len(),
        all.len() - good.len(),
        all.len() as f64 / elapsed,
        quantile(0.5).as_secs_f64() * 1e3,
        quantile(0.99).as_secs_f64() * 1e3,
        unexpected.len()
    );
    for (_, want, got, _) in unexpected.iter().take(5) {
        println!("  expected {want}, got {got}");
    }
    if !unexpected.is_empty() {
        std::process::exit(1);
    }
}
