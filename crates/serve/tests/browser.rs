//! The studio in a real browser: Debian's headless Chromium driven through
//! chromedriver (WebDriver) opens each page, uploads files as a person
//! would (through the page's own file inputs), records from a fake
//! microphone, and reads the results the page shows.
//!
//! Needs `chromium` and `chromium-driver` (.ci/run installs them). Where
//! chromedriver is missing the test says so and passes, except under CI
//! (`CI` set), where it fails: there it must run. `CASEBOOK_SCREENSHOTS=DIR`
//! saves a screenshot of each page there (the README's pictures).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    let name = std::env::var_os("CHROMEDRIVER").unwrap_or_else(|| "chromedriver".into());
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(&name))
        .chain([PathBuf::from(&name)])
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromedriver not found: install Debian's chromium and chromium-driver (as .ci/run does)"
        );
        eprintln!(
            "skipped: no chromedriver (apt-get install chromium chromium-driver to run this test)"
        );
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver and a Chromium session whose microphone plays `microphone` (a WAV, looped).
async fn start_driver(binary: &Path, microphone: &Path) -> (Driver, Client) {
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1100,900",
            // A microphone that plays a WAV file, allowed without asking.
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            format!("--use-file-for-fake-audio-capture={}", microphone.display()),
        ]}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    (driver, client)
}

/// Waits until the page's JavaScript `condition` holds; returns its value.
async fn wait_until(client: &Client, condition: &str, what: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let value = client
            .execute(&format!("return ({condition}) || null;"), vec![])
            .await
            .unwrap();
        if !value.is_null() {
            return value;
        }
        if Instant::now() > deadline {
            let error = client
                .execute(
                    "return (document.getElementById('error')||{}).textContent || '';",
                    vec![],
                )
                .await
                .unwrap();
            panic!("timed out waiting for {what}; the page's error line: {error}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens `url` and waits for its model lists to be filled.
async fn open(client: &Client, url: &str) {
    client.goto(url).await.unwrap();
    wait_until(
        client,
        "[...document.querySelectorAll('select[data-kind]')].every(s => s.dataset.filled !== undefined)",
        "the model lists",
    )
    .await;
}

/// Chooses `files` in the file input `input` as a person would (several:
/// one path a line; a folder for a folder input).
async fn choose(client: &Client, input: &str, files: &[String]) {
    client
        .find(Locator::Id(input))
        .await
        .unwrap()
        .send_keys(&files.join("\n"))
        .await
        .unwrap();
}

/// Opens `url` and chooses `files` in its file input `input`.
async fn upload(client: &Client, url: &str, input: &str, files: &[String]) {
    open(client, url).await;
    choose(client, input, files).await;
}

async fn click(client: &Client, id: &str) {
    client
        .find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits for the job listed in `list` (its kind) to be done; returns the
/// link it then shows.
async fn job_done(client: &Client, kind: &str) -> String {
    let link = wait_until(
        client,
        &format!("(document.querySelector('div[data-kind={kind}] .job[data-status=done] a') || {{}}).href"),
        &format!("the {kind} job"),
    )
    .await;
    link.as_str().unwrap().to_string()
}

async fn screenshot(client: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("CASEBOOK_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        let png = client.screenshot().await.unwrap();
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_works_in_a_real_browser() {
    let Some(binary) = chromedriver() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (runs, temp) = (work.path().join("runs"), work.path().join("tmp"));
    std::fs::create_dir_all(&temp).unwrap();
    common::logreg_run(&runs, &work.path().join("species.csv"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let config = casebook_serve::Config {
        runs_dir: runs.clone(),
        temp_dir: temp.clone(),
        ..casebook_serve::Config::default()
    };
    let server = tokio::spawn(casebook_serve::serve(
        listener,
        config,
        std::future::pending(),
    ));
    // The microphone says the word (a held-out voice) every 4 s.
    let (microphone, said_until) = common::word_in_noise(48_000);
    let microphone_path = work.path().join("microphone.wav");
    std::fs::write(&microphone_path, microphone).unwrap();
    let (_driver, client) = start_driver(&binary, &microphone_path).await;
    let page = |path: &str| format!("http://{addr}{path}");

    // Day or night: four photos through the file input, one of them not an image.
    let scenes = common::scenes(&work.path().join("scenes"), 6);
    let bad = work.path().join("notes.png");
    std::fs::write(&bad, "not a picture").unwrap();
    let picked: Vec<&(PathBuf, String)> = scenes
        .iter()
        .filter(|(_, c)| c == "day")
        .take(2)
        .chain(scenes.iter().filter(|(_, c)| c == "night").take(2))
        .collect();
    let files: Vec<String> = picked
        .iter()
        .map(|(p, _)| p.display().to_string())
        .chain([bad.display().to_string()])
        .collect();
    upload(&client, &page("/daynight"), "files", &files).await;
    wait_until(
        &client,
        "document.getElementById('progress-text').textContent.startsWith('5 of 5')",
        "5 results",
    )
    .await;
    let labels = client
        .execute(
            "return [...document.querySelectorAll('tr.result')].map(r => r.dataset.label);",
            vec![],
        )
        .await
        .unwrap();
    let labels: Vec<String> = serde_json::from_value(labels).unwrap();
    let right = labels
        .iter()
        .zip(&picked)
        .filter(|(l, (_, c))| *l == c)
        .count();
    assert!(right >= 3, "{labels:?}");
    let failed = client
        .find(Locator::Css("tr.failed"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        failed.contains("notes.png") && failed.contains("not a readable image"),
        "{failed}"
    );
    screenshot(&client, "studio-daynight").await;

    // Trigger word: a held-out voice in an uploaded WAV, then the microphone.
    let (wav, _) = common::word_in_noise(22_050);
    let wav_path = work.path().join("word.wav");
    std::fs::write(&wav_path, wav).unwrap();
    upload(
        &client,
        &page("/trigger"),
        "wav",
        &[wav_path.display().to_string()],
    )
    .await;
    wait_until(
        &client,
        "document.getElementById('status').dataset.detections",
        "the detections",
    )
    .await;
    let times = client
        .execute("return [...document.querySelectorAll('tr.detection td:first-child')].map(c => +c.textContent);", vec![])
        .await
        .unwrap();
    let times: Vec<f64> = serde_json::from_value(times).unwrap();
    // The built-in model's own threshold is strict (0.994): the word may be
    // missed, but nothing else may be found.
    assert!(times.len() <= 1, "{times:?}");
    assert!(
        times.iter().all(|t| *t > 1.0 && *t < said_until + 1.0),
        "{times:?}"
    );
    let plot = client.find(Locator::Id("plot")).await.unwrap();
    assert!(
        plot.attr("hidden").await.unwrap().is_none(),
        "the plot stayed hidden"
    );
    screenshot(&client, "studio-trigger").await;
    click(&client, "record").await;
    let status = wait_until(
        &client,
        "document.getElementById('status').textContent.startsWith('the recording:') && document.getElementById('status').textContent",
        "the recording's result",
    )
    .await;
    assert!(status.as_str().unwrap().contains(" s at "), "{status}");

    // Live: the microphone streams to the server; the lamp lights on the word.
    click(&client, "live").await;
    let latency = wait_until(
        &client,
        "(document.querySelector('tr.live-detection td:last-child') || {}).textContent",
        "a live detection",
    )
    .await;
    let latency: f64 = latency.as_str().unwrap().parse().unwrap();
    eprintln!("live detection: {latency} ms from the audio's capture to the page");
    assert!((0.0..5000.0).contains(&latency), "{latency} ms");
    screenshot(&client, "studio-trigger-live").await;
    click(&client, "live").await;

    // Logistic regression: train on a CSV through the page, as a job that a
    // reload does not lose; then score a CSV with a trained run.
    let species = work.path().join("species.csv").display().to_string();
    upload(
        &client,
        &page("/logreg"),
        "train-csv",
        std::slice::from_ref(&species),
    )
    .await;
    wait_until(
        &client,
        "!document.getElementById('train').disabled",
        "the CSV's columns",
    )
    .await;
    client
        .execute("document.getElementById('target').value = 'species'; document.getElementById('ignore').value = 'id';", vec![])
        .await
        .unwrap();
    click(&client, "train").await;
    wait_until(
        &client,
        "document.querySelector('.job[data-status=done] a')",
        "the training job",
    )
    .await;
    client.refresh().await.unwrap();
    let report = wait_until(
        &client,
        "(document.querySelector('.job[data-status=done] a') || {}).href",
        "the job after a reload",
    )
    .await;
    assert!(
        report.as_str().unwrap().contains("/runs/logreg-train-"),
        "{report}"
    );
    screenshot(&client, "studio-logreg-train").await;
    upload(&client, &page("/logreg"), "csv", &[species]).await;
    wait_until(
        &client,
        "!document.getElementById('download').hidden",
        "the predictions",
    )
    .await;
    let header = client
        .find(Locator::Css("#preview tr"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(header.contains("predicted_species"), "{header}");
    screenshot(&client, "studio-logreg").await;

    // Faces: two photos of one person, compared.
    let photos = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../faces/tests/fixtures/images")
        .canonicalize()
        .unwrap();
    let first = photos.join("edwin_a.png").display().to_string();
    upload(&client, &page("/faces"), "first", &[first]).await;
    choose(
        &client,
        "second",
        &[photos.join("edwin_b.png").display().to_string()],
    )
    .await;
    click(&client, "verify").await;
    let same = wait_until(
        &client,
        "document.getElementById('verdict').dataset.same",
        "the verdict",
    )
    .await;
    assert_eq!(same, "true");
    screenshot(&client, "studio-faces").await;

    // Faces: people enrolled from a folder (a sub-folder each), then found in a photo.
    let people = work.path().join("people");
    for (person, file) in [
        ("edwin", "edwin_a.png"),
        ("grace", "grace_hopper.png"),
        ("sally", "sally_ride.png"),
    ] {
        std::fs::create_dir_all(people.join(person)).unwrap();
        std::fs::copy(photos.join(file), people.join(person).join(file)).unwrap();
    }
    choose(&client, "enroll-folder", &[people.display().to_string()]).await;
    click(&client, "enroll").await;
    job_done(&client, "face-enroll").await;
    wait_until(
        &client,
        "document.querySelectorAll('#gallery option').length",
        "the gallery",
    )
    .await;
    choose(
        &client,
        "identify-photo",
        &[photos.join("edwin_b.png").display().to_string()],
    )
    .await;
    let who = wait_until(
        &client,
        "(document.querySelector('tr.identified') || {dataset: {}}).dataset.person",
        "the identification",
    )
    .await;
    assert_eq!(who, "edwin");
    // The same photos in one folder, grouped by person.
    let flat = work.path().join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    for file in ["edwin_a.png", "edwin_b.png", "grace_hopper.png"] {
        std::fs::copy(photos.join(file), flat.join(file)).unwrap();
    }
    choose(&client, "cluster-folder", &[flat.display().to_string()]).await;
    click(&client, "cluster").await;
    job_done(&client, "face-cluster").await;
    let reading = client
        .find(Locator::Css("div[data-kind=face-cluster] .reading"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(reading, "3 faces in 2 groups");
    screenshot(&client, "studio-faces-identify").await;

    // Day or night: a classifier trained on a folder picked in the page.
    let scenes_dir = work.path().join("train-scenes");
    common::scenes(&scenes_dir, 40);
    open(&client, &page("/daynight")).await;
    client
        .execute("document.getElementById('epochs').value = 2; document.getElementById('resolution').value = 32;", vec![])
        .await
        .unwrap();
    choose(&client, "train-folder", &[scenes_dir.display().to_string()]).await;
    click(&client, "train-images").await;
    let report = job_done(&client, "image-train").await;
    assert!(report.contains("/runs/image-train-"), "{report}");
    wait_until(
        &client,
        "document.querySelectorAll('#model option').length >= 2",
        "the new model in the list",
    )
    .await;
    screenshot(&client, "studio-daynight-train").await;

    // Style: a photo drawn in the built-in painting's style, forming as it goes.
    open(&client, &page("/style")).await;
    choose(&client, "content", &[scenes[0].0.display().to_string()]).await;
    client
        .execute("document.getElementById('size').value = 128; document.getElementById('iterations').value = 40;", vec![])
        .await
        .unwrap();
    click(&client, "transfer").await;
    job_done(&client, "style-transfer").await;
    let drawn = wait_until(
        &client,
        "(() => { const img = document.querySelector('img.forming'); return img && !img.hidden && img.complete && img.naturalWidth; })()",
        "the drawn picture",
    )
    .await;
    assert_eq!(drawn, 128);
    screenshot(&client, "studio-style").await;

    // Human baseline: a sample-rate study made, its page answered in the
    // browser, the answers scored on the server.
    open(&client, &page("/human")).await;
    client
        .execute("document.getElementById('rate-count').value = 2;", vec![])
        .await
        .unwrap();
    click(&client, "rate-study").await;
    let study = job_done(&client, "human-study").await;
    client.goto(&study).await.unwrap();
    client
        .execute(
            "document.querySelectorAll('.card').forEach(card => card.querySelector('input[value=no]').click());",
            vec![],
        )
        .await
        .unwrap();
    click(&client, "save").await;
    let scored = wait_until(
        &client,
        "document.getElementById('status').dataset.scored && document.getElementById('status').textContent",
        "the scores",
    )
    .await;
    assert!(
        scored
            .as_str()
            .unwrap()
            .contains("8 answers scored: rate (Hz) 4000:"),
        "{scored}"
    );
    screenshot(&client, "studio-human-page").await;
    open(&client, &page("/human")).await;
    assert!(client.source().await.unwrap().contains("scored:"));
    screenshot(&client, "studio-human").await;

    // Runs: the run is listed and its report opens.
    client.goto(&page("/runs")).await.unwrap();
    screenshot(&client, "studio-runs").await;
    client
        .find(Locator::LinkText("species"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(
        &client,
        "document.title.includes('Logistic regression')",
        "the run's report",
    )
    .await;

    client.close().await.unwrap();
    server.abort();
    assert_eq!(
        std::fs::read_dir(&temp).unwrap().count(),
        0,
        "temporary files were left"
    );
}
