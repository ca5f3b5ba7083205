//! The trigger-word commands end to end, with the committed built-in model:
//! synth → detect (+ chime) → listen on the same audio gives the same output
//! → eval; human page and baseline; bad audio.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{fails, ok};

/// `casebook trigger synth` into `w/clips`; returns the folder.
fn synth(w: &Path, count: usize, extra: &[&str]) -> std::path::PathBuf {
    let clips = w.join("clips");
    let count = count.to_string();
    let args = [
        "trigger",
        "synth",
        "--out-dir",
        clips.to_str().unwrap(),
        "--count",
        &count,
        "--quiet",
    ];
    ok(&[&args[..], extra].concat(), w);
    clips
}

/// Writes 16-bit mono PCM.
fn write_wav(path: &Path, rate: u32, samples: impl IntoIterator<Item = i16>) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    samples
        .into_iter()
        .for_each(|s| writer.write_sample(s).unwrap());
    writer.finalize().unwrap();
}

/// Detections as (time, score) columns of `detect` / `listen` output.
fn detections(out: &str) -> Vec<(String, String)> {
    out.lines()
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "{l}");
            (cols[1].to_string(), cols[2].to_string())
        })
        .collect()
}

/// `listen`'s detections are `detect`'s, at the same times; listening fires
/// without waiting for the peak, so its scores are at most `detect`'s (each
/// detection's peak).
fn same_detections(live: &str, offline: &str) {
    let (live, offline) = (detections(live), detections(offline));
    assert_eq!(live.len(), offline.len(), "{live:?} vs {offline:?}");
    for ((live_time, live_score), (time, peak)) in live.iter().zip(&offline) {
        assert_eq!(live_time, time);
        assert!(live_score.parse::<f32>().unwrap() <= peak.parse::<f32>().unwrap());
    }
}

fn listen(wav: &Path, rate: u32) -> String {
    let clip = hound::WavReader::open(wav)
        .unwrap()
        .into_samples::<i16>()
        .map(Result::unwrap);
    let pcm: Vec<u8> = clip.flat_map(|s| s.to_le_bytes()).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_casebook"))
        .args([
            "trigger",
            "listen",
            "builtin",
            "--stdin",
            "--rate",
            &rate.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Odd-sized writes: a sample may be split between two reads.
    for chunk in pcm.chunks(3001) {
        stdin.write_all(chunk).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn synth_detect_listen_and_eval_agree() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let clips = synth(w, 6, &["--test-voices", "--seed", "3"]);
    let c = clips.to_str().unwrap();
    let labels = std::fs::read_to_string(clips.join("labels.csv")).unwrap();
    let mut worded: Vec<String> = labels
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    worded.dedup();
    // The built-in model hears a held-out voice in at least one clip with words.
    let detect_at = |file: &str, threshold: &str| {
        ok(
            &[
                "trigger",
                "detect",
                "builtin",
                clips.join(file).to_str().unwrap(),
                "--threshold",
                threshold,
            ],
            w,
        )
    };
    let first = worded
        .iter()
        .find(|f| !detections(&detect_at(f, "0.3")).is_empty())
        .unwrap_or_else(|| panic!("the built-in model heard no held-out voice:\n{labels}"))
        .clone();
    let wav = clips.join(&first);

    let chimed = w.join("chimed.wav");
    ok(
        &[
            "trigger",
            "detect",
            "builtin",
            wav.to_str().unwrap(),
            "--threshold",
            "0.3",
            "--chime",
            chimed.to_str().unwrap(),
        ],
        w,
    );
    assert!(hound::WavReader::open(&chimed).unwrap().duration() > 0);

    // Streaming detects what offline detection does, at the same times; it
    // fires without waiting for the peak, so its scores are at most offline's
    // (each detection's peak).
    let offline = ok(&["trigger", "detect", "builtin", wav.to_str().unwrap()], w);
    same_detections(&listen(&wav, 16_000), &offline);

    let json = ok(
        &[
            "trigger",
            "detect",
            "builtin",
            wav.to_str().unwrap(),
            "--json",
        ],
        w,
    );
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["time_s"].as_f64().unwrap() > 0.0 && v["score"].as_f64().unwrap() >= 0.5);
    }

    let out = ok(
        &["trigger", "eval", "builtin", c, "--run", "ev", "--quiet"],
        w,
    );
    assert!(
        out.contains("false-reject rate") && out.contains("false accepts per hour"),
        "{out}"
    );
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.join("runs/ev/metrics.json")).unwrap())
            .unwrap();
    assert_eq!(metrics["files"], 6);
    // Thresholds 0.01–0.99, then 0.991–0.999.
    assert_eq!(metrics["det_curve"].as_array().unwrap().len(), 108);
    assert!(std::fs::read_to_string(w.join("runs/ev/report.html"))
        .unwrap()
        .contains("DET curve"));
    // Every word and false accept at the threshold, in the run folder and with --json.
    let json: serde_json::Value = serde_json::from_str(&ok(
        &[
            "trigger", "eval", "builtin", c, "--run", "ev-json", "--json", "--quiet",
        ],
        w,
    ))
    .unwrap();
    let items = json["items"].as_array().unwrap();
    let count = |outcome: &str| items.iter().filter(|i| i["outcome"] == outcome).count();
    let at = &json["metrics"]["at_threshold"];
    assert_eq!(count("missed"), at["missed"].as_u64().unwrap() as usize);
    assert_eq!(
        count("false_accept"),
        at["false_accepts"].as_u64().unwrap() as usize
    );
    assert_eq!(
        count("hit") + count("missed"),
        json["metrics"]["words"].as_u64().unwrap() as usize
    );
    let events = std::fs::read_to_string(w.join("runs/ev-json/events.csv")).unwrap();
    assert_eq!(events.lines().count(), items.len() + 1);
    // Each event names a file that is there, and the report has a player
    // of each listed mistake's moment. A low threshold gives false accepts.
    let (missed, _) = players_match_mistakes(&w.join("runs/ev-json"), items);
    let json: serde_json::Value = serde_json::from_str(&ok(
        &[
            "trigger",
            "eval",
            "builtin",
            c,
            "--run",
            "ev-low",
            "--json",
            "--quiet",
            "--threshold",
            "0.02",
        ],
        w,
    ))
    .unwrap();
    let (_, false_accepts) =
        players_match_mistakes(&w.join("runs/ev-low"), json["items"].as_array().unwrap());
    assert!(missed > 0 && false_accepts > 0, "{missed} {false_accepts}");
}

/// Checks that every event of an evaluation names a file that is there, and
/// that its report has a player of each listed mistake's moment (the first
/// 20 of each kind): a WAV that decodes, about a second long. Returns the
/// numbers of missed words and false accepts.
fn players_match_mistakes(run: &Path, items: &[serde_json::Value]) -> (usize, usize) {
    use base64::Engine;
    assert!(items
        .iter()
        .all(|i| Path::new(i["file"].as_str().unwrap()).exists()));
    let count = |outcome: &str| items.iter().filter(|i| i["outcome"] == outcome).count();
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    let players: Vec<&str> = report
        .split("src=\"data:audio/wav;base64,")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    let (missed, false_accepts) = (count("missed"), count("false_accept"));
    assert_eq!(players.len(), missed.min(20) + false_accepts.min(20));
    for player in players {
        let wav = base64::engine::general_purpose::STANDARD
            .decode(player)
            .unwrap();
        let reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
        let seconds = reader.duration() as f64 / reader.spec().sample_rate as f64;
        assert!((0.4..3.0).contains(&seconds), "{seconds} s");
    }
    (missed, false_accepts)
}

#[test]
fn listen_resamples_other_rates() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let clips = synth(w, 1, &["--test-voices"]);
    // The same clip at 8 kHz: listen resamples, and still runs to the end.
    let wav = clips.join("clip_00000.wav");
    let reader = hound::WavReader::open(&wav).unwrap();
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .map(Result::unwrap)
        .step_by(2)
        .collect();
    let low = w.join("low.wav");
    write_wav(&low, 8000, samples);
    same_detections(
        &listen(&low, 8000),
        &ok(&["trigger", "detect", "builtin", low.to_str().unwrap()], w),
    );
}

/// Issue 16's case: 44.1 kHz audio a whole number of resampler blocks long
/// (102 400 samples) used to fail at the end of the stream. With nothing
/// detected, `detect` says so on standard error and prints no line.
#[test]
fn detect_runs_to_the_end_of_block_sized_audio_and_says_when_nothing_was_found() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let wav = w.join("hum.wav");
    write_wav(
        &wav,
        44100,
        (0..102_400).map(|i| ((i % 50) as i16 - 25) * 4),
    );
    let out = common::casebook(&["trigger", "detect", "builtin", wav.to_str().unwrap()], w);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "detect failed:\n{stderr}");
    assert!(out.stdout.is_empty(), "a detection in a quiet hum");
    assert!(
        stderr.contains("hum.wav: no detections at threshold"),
        "{stderr}"
    );
}

#[test]
fn human_page_and_baseline() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let page = w.join("page.html");
    ok(
        &[
            "trigger",
            "human-page",
            "--rates",
            "4000,16000",
            "--count",
            "2",
            "--out",
            page.to_str().unwrap(),
            "--run",
            "rates",
        ],
        w,
    );
    let key_file = w.join("runs/rates/human-key.json");
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let answers: serde_json::Map<String, serde_json::Value> = key["questions"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), "yes".into()))
        .collect();
    let answers_file = w.join("answers.json");
    std::fs::write(
        &answers_file,
        serde_json::json!({ "key": key_file, "answers": answers }).to_string(),
    )
    .unwrap();
    let table = ok(
        &["trigger", "human-baseline", answers_file.to_str().unwrap()],
        w,
    );
    assert!(
        table.contains("rate (Hz)") && table.contains("2/2"),
        "{table}"
    );
    // The person's scores join the model's in the study's report.
    let report = std::fs::read_to_string(w.join("runs/rates/report.html")).unwrap();
    assert!(
        report.contains("Sample-rate study") && report.contains("Human baseline"),
        "the report lacks the model's or the person's table"
    );
}

#[test]
fn bad_audio_and_bad_models_fail_cleanly() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // Each bad file is skipped with its reason (and the good one still
    // scored, as by `image predict`); the exit says how many failed.
    let text = w.join("notes.wav");
    std::fs::write(&text, "not audio").unwrap();
    let empty = w.join("empty.wav");
    write_wav(&empty, 16000, []);
    // A truncated file: a valid header promising more data than there is.
    let full = w.join("full.wav");
    write_wav(&full, 16000, (0..16000).map(|i| (i % 100) as i16));
    let bytes = std::fs::read(&full).unwrap();
    let cut = w.join("cut.wav");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 1]).unwrap();
    let files = [&text, &empty, &full, &cut].map(|p| p.to_str().unwrap());
    let args = [&["trigger", "detect", "builtin"][..], &files[..]].concat();
    assert!(fails(&args, w).contains("3 of 4 files could not be read"));
    let stderr = String::from_utf8_lossy(&common::casebook(&args, w).stderr).to_string();
    for (file, reason) in [
        ("notes.wav", "not a readable WAV"),
        ("empty.wav", "no audio"),
        ("cut.wav", "truncated"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(file) && l.contains(reason)),
            "{file}: {reason}?\n{stderr}"
        );
    }
    assert!(stderr.contains("full.wav: no detections"), "{stderr}");
    assert!(fails(
        &[
            "trigger",
            "detect",
            "missing.casebook",
            full.to_str().unwrap()
        ],
        w
    )
    .contains("missing.casebook"));
    assert!(fails(&["trigger", "eval", "builtin", w.to_str().unwrap()], w).contains("labels.csv"));
    assert!(fails(&["trigger", "train", "--steps", "0"], w).contains("--steps"));
    assert!(fails(&["trigger", "train", "--hop", "0"], w).contains("--hop"));
    assert!(fails(
        &["trigger", "listen", "builtin", "--stdin", "--rate", "0"],
        w
    )
    .contains("rate"));
}

/// Settings that would give nonsense, allocate without bound or destroy the
/// user's recording are refused before any work, each with the flag's name,
/// and leave nothing behind (issue 16, items 5 and 6).
#[test]
fn out_of_range_settings_are_refused_before_any_work() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let wav = w.join("speech.wav");
    write_wav(&wav, 16000, (0..16000).map(|i| (i % 100) as i16));
    let wav = wav.to_str().unwrap();
    for threshold in ["2", "-1", "NaN"] {
        let flag = format!("--threshold={threshold}");
        let message = fails(&["trigger", "detect", "builtin", wav, &flag], w);
        assert!(message.contains("--threshold"), "{message}");
    }
    for refractory in ["NaN", "-5", "inf"] {
        let flag = format!("--refractory={refractory}");
        let message = fails(&["trigger", "detect", "builtin", wav, &flag], w);
        assert!(message.contains("--refractory"), "{message}");
    }
    // --chime onto the input, by another name: refused, the recording intact.
    let before = std::fs::read(w.join("speech.wav")).unwrap();
    let same = w.join(".").join("speech.wav");
    let message = fails(
        &[
            "trigger",
            "detect",
            "builtin",
            wav,
            "--chime",
            same.to_str().unwrap(),
        ],
        w,
    );
    assert!(message.contains("is the input"), "{message}");
    assert_eq!(std::fs::read(w.join("speech.wav")).unwrap(), before);
    // Sizes that would need gigabytes or a network of billions of weights.
    let page = w.join("page").join("page.html");
    let message = fails(
        &[
            "trigger",
            "human-page",
            "--rates",
            "4000000000",
            "--out",
            page.to_str().unwrap(),
        ],
        w,
    );
    assert!(message.contains("384000"), "{message}");
    assert!(!w.join("page").exists());
    let message = fails(
        &[
            "trigger",
            "train",
            "--batch-size",
            "1000000",
            "--run",
            "big",
        ],
        w,
    );
    assert!(
        message.contains("--batch-size") && message.contains("GB"),
        "{message}"
    );
    let message = fails(
        &["trigger", "train", "--n-fft", "100000", "--run", "wide"],
        w,
    );
    assert!(message.contains("--n-fft"), "{message}");
    assert!(!w.join("runs").join("big").exists() && !w.join("runs").join("wide").exists());
}

#[test]
fn killed_training_resumes_exactly() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let args = |run: &str| -> Vec<String> {
        [
            "trigger",
            "train",
            "--preset",
            "small",
            "--steps",
            "20",
            "--batch-size",
            "4",
            "--eval-every",
            "5",
            "--val-clips",
            "4",
            "--run",
            run,
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_casebook"))
        .args(args("killed"))
        .current_dir(w)
        .spawn()
        .unwrap();
    let state = w.join("runs/killed/checkpoint/state.json");
    while !state.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !w.join("runs/killed/model.casebook").exists(),
        "the run finished before it could be killed"
    );
    ok(
        &["trigger", "train", "--resume", "runs/killed", "--quiet"],
        w,
    );
    let straight: Vec<String> = args("straight");
    ok(&straight.iter().map(String::as_str).collect::<Vec<_>>(), w);
    let losses = |run: &str| {
        std::fs::read_to_string(w.join(format!("runs/{run}/metrics.jsonl")))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["step"].as_u64().unwrap(),
                    v["train_loss"].as_f64().unwrap(),
                    v["val_loss"].as_f64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(losses("killed"), losses("straight"));
    assert_eq!(losses("straight").len(), 4);
}

#[test]
fn other_spectrogram_settings_train_and_detect() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let args = [
        "trigger",
        "train",
        "--preset",
        "small",
        "--n-fft",
        "256",
        "--hop",
        "64",
        "--steps",
        "2",
        "--batch-size",
        "2",
    ];
    ok(
        &[
            &args[..],
            &[
                "--eval-every",
                "2",
                "--val-clips",
                "2",
                "--run",
                "fft",
                "--quiet",
            ],
        ]
        .concat(),
        w,
    );
    let file =
        casebook_core::model_file::ModelFile::load(&w.join("runs/fft/model.casebook")).unwrap();
    assert_eq!(file.meta.preprocessing["spectrogram"]["n_fft"], 256);
    assert_eq!(file.meta.architecture["bins"], 129);
    let clips = synth(w, 1, &[]);
    let clip = clips.join("clip_00000.wav");
    let model = w.join("runs/fft/model.casebook");
    ok(
        &[
            "trigger",
            "detect",
            model.to_str().unwrap(),
            clip.to_str().unwrap(),
            "--threshold",
            "0.01",
        ],
        w,
    );
}

#[test]
fn an_installed_binary_needs_nothing_from_the_source_tree() {
    // A copy of the binary, run from an unrelated folder, as after
    // `cargo install`: the built-in pools and model are compiled in.
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let installed = w.join("bin/casebook");
    std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_casebook"), &installed).unwrap();
    let binary = std::fs::read(&installed).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("trigger");
    let baked = source.to_str().unwrap().as_bytes();
    assert!(
        !binary.windows(baked.len()).any(|window| window == baked),
        "the binary names the source folder {}",
        source.display()
    );
    let run = |args: &[&str]| {
        let out = Command::new(&installed)
            .args(args)
            .current_dir(w)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    run(&[
        "trigger",
        "synth",
        "--out-dir",
        "clips",
        "--count",
        "2",
        "--quiet",
    ]);
    run(&["trigger", "detect", "builtin", "clips/clip_00000.wav"]);
}

#[test]
fn ctrl_c_stops_training_at_a_checkpoint_and_resume_finishes_it() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let child = Command::new(env!("CARGO_BIN_EXE_casebook"))
        .args([
            "trigger",
            "train",
            "--preset",
            "small",
            "--steps",
            "40",
            "--batch-size",
            "2",
            "--eval-every",
            "2",
            "--val-clips",
            "2",
            "--run",
            "stopped",
            "--quiet",
        ])
        .current_dir(w)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state = w.join("runs/stopped/checkpoint/state.json");
    while !state.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let interrupt = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupt.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("stopped:") && stderr.contains("keeps its checkpoint of step"),
        "{stderr}"
    );
    assert!(!w.join("runs/stopped/model.casebook").exists());
    let checkpointed: usize =
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&state).unwrap())
            .unwrap()["completed_steps"]
            .as_u64()
            .unwrap() as usize;
    assert!(checkpointed < 40, "the run finished before it was stopped");
    ok(
        &["trigger", "train", "--resume", "runs/stopped", "--quiet"],
        w,
    );
    assert!(w.join("runs/stopped/model.casebook").exists());
}

#[test]
fn mine_cuts_a_window_around_each_false_accept() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    ok(
        &[
            "trigger",
            "synth",
            "--out-dir",
            "free",
            "--count",
            "3",
            "--max-positives",
            "0",
            "--seconds",
            "20",
            "--seed",
            "3",
            "--quiet",
        ],
        w,
    );
    // At a threshold this low the built-in model fires on any speech.
    let out = ok(
        &[
            "trigger",
            "mine",
            "builtin",
            "free",
            "--out-dir",
            "mined",
            "--threshold",
            "0.01",
            "--seconds",
            "4",
            "--quiet",
        ],
        w,
    );
    assert!(out.contains("in 0.02 h of audio"), "{out}");
    let windows: Vec<_> = std::fs::read_dir(w.join("mined"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!windows.is_empty(), "{out}");
    assert!(
        out.contains(&format!("wrote {} windows", windows.len())),
        "{out}"
    );
    for path in &windows {
        let reader = hound::WavReader::open(path).unwrap();
        assert_eq!(reader.spec().sample_rate, 16_000);
        assert!(reader.duration() <= 4 * 16_000, "{}", path.display());
    }
    let err = fails(
        &[
            "trigger",
            "mine",
            "builtin",
            "free",
            "--out-dir",
            "m2",
            "--seconds",
            "0.5",
        ],
        w,
    );
    assert!(err.contains("1 to 60 seconds"), "{err}");
}

#[test]
fn eval_calibrates_a_threshold_that_detect_and_eval_then_use() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    synth(w, 6, &["--test-voices"]);
    // Any threshold meets a target this loose: the lowest one is stored.
    let out = ok(
        &[
            "trigger",
            "eval",
            "builtin",
            "clips",
            "--target-fa-per-hour",
            "1000000",
            "--calibrate",
            "cal.casebook",
            "--runs-dir",
            "runs",
            "--quiet",
        ],
        w,
    );
    assert!(
        out.contains("wrote cal.casebook with threshold 0.01 "),
        "{out}"
    );
    let out = ok(
        &[
            "trigger",
            "eval",
            "cal.casebook",
            "clips",
            "--runs-dir",
            "runs",
            "--quiet",
        ],
        w,
    );
    assert!(out.contains("threshold 0.01:"), "{out}");
    let out = ok(
        &[
            "trigger",
            "eval",
            "cal.casebook",
            "clips",
            "--threshold",
            "0.7",
            "--runs-dir",
            "runs",
            "--quiet",
        ],
        w,
    );
    assert!(out.contains("threshold 0.7:"), "{out}");
    // A target that cannot be met is refused before anything is measured or written.
    let err = fails(
        &[
            "trigger",
            "eval",
            "builtin",
            "clips",
            "--target-fa-per-hour=-1",
            "--calibrate",
            "none.casebook",
            "--runs-dir",
            "runs",
        ],
        w,
    );
    assert!(err.contains("must be 0 or more"), "{err}");
    assert!(!w.join("none.casebook").exists());
}
