//! End-to-end tests of `casebook style ...`.

mod common;

use std::path::Path;

use common::{fails, ok};

fn write_png(path: &Path, size: u32, pattern: fn(u32, u32) -> [u8; 3]) -> String {
    image::RgbImage::from_fn(size, size, |x, y| image::Rgb(pattern(x, y)))
        .save(path)
        .unwrap();
    path.to_str().unwrap().to_string()
}

fn vgg_fixture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../style/tests/fixtures/vgg_tiny.safetensors")
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn transfer_writes_the_picture_and_its_frames() {
    let work = tempfile::tempdir().unwrap();
    let cwd = work.path();
    let content = write_png(&cwd.join("content.png"), 40, |x, y| {
        [(x * 6) as u8, (y * 6) as u8, 128]
    });
    let style = write_png(&cwd.join("style.png"), 40, stripes);
    let out = ok(
        &[
            "style",
            "transfer",
            &content,
            &style,
            "--out",
            "out.png",
            "--size",
            "32",
            "--iterations",
            "4",
            "--frames",
            "frames",
            "--every",
            "2",
        ],
        cwd,
    );
    assert!(out.starts_with("wrote out.png (32×32)"), "{out}");
    assert!(out.contains("built-in VGG-19 network"), "{out}");
    let picture = image::open(cwd.join("out.png")).unwrap();
    assert_eq!((picture.width(), picture.height()), (32, 32));
    assert!(cwd.join("frames/frame_0002.png").exists());
    assert!(cwd.join("frames/frame_0004.png").exists());
    // The run folder: settings, losses per iteration, the picture, the report.
    let run = std::fs::read_dir(cwd.join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(out.contains("report: runs/style-"), "{out}");
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 5, "{metrics}");
    assert!(
        metrics.lines().all(|l| l.contains("\"style\"")),
        "{metrics}"
    );
    assert!(run.join("result.png").exists());
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(report.contains("Losses by iteration") && report.contains("The picture forming"));

    // Two styles blended, colours kept, L-BFGS, a VGG-19 file's layout.
    let out = ok(
        &[
            "style",
            "transfer",
            &content,
            &style,
            &content,
            "--blend",
            "0.7,0.3",
            "--out",
            "kept.jpg",
            "--size",
            "24",
            "--iterations",
            "2",
            "--preserve-colors",
            "--optimizer",
            "lbfgs",
            "--features",
            &vgg_fixture(),
            "--pool",
            "max",
        ],
        cwd,
    );
    assert!(out.contains("the network in"), "{out}");
    assert!(cwd.join("kept.jpg").exists());
}

#[test]
fn bad_input_gives_one_error_line_and_no_picture() {
    let work = tempfile::tempdir().unwrap();
    let cwd = work.path();
    let content = write_png(&cwd.join("content.png"), 40, |_, _| [90, 90, 90]);
    let tiny = write_png(&cwd.join("tiny.png"), 8, |_, _| [0, 0, 0]);
    std::fs::write(cwd.join("notes.png"), "not a picture").unwrap();
    std::fs::write(cwd.join("weights.pth"), "not weights").unwrap();
    let transfer = |extra: &[&str]| {
        let mut args = vec!["style", "transfer", &content];
        args.extend_from_slice(extra);
        fails(&args, cwd)
    };
    assert!(
        transfer(&["notes.png", "--out", "o.png"]).contains("cannot read notes.png as an image")
    );
    assert!(transfer(&[&tiny, "--out", "o.png"]).contains("needs at least 16"));
    assert!(transfer(&[&content, "--out", "o.gif"]).contains("name it .png or .jpg"));
    assert!(
        transfer(&[&content, "--out", "o.png", "--blend", "1,2"]).contains("2 shares for 1 style")
    );
    assert!(transfer(&[&content, "--out", "o.png", "--lr", "0"]).contains("--lr"));
    assert!(
        transfer(&[&content, "--out", "o.png", "--features", "weights.pth"])
            .contains("does not hold VGG-19")
    );
    assert!(!cwd.join("o.png").exists());
    // No half-made run folder is left behind by a failed transfer.
    assert!(
        !cwd.join("runs").exists()
            || std::fs::read_dir(cwd.join("runs"))
                .unwrap()
                .next()
                .is_none()
    );
}

fn stripes(x: u32, y: u32) -> [u8; 3] {
    if ((x + y) / 3).is_multiple_of(2) {
        [240, 200, 30]
    } else {
        [20, 30, 150]
    }
}

fn write_pictures(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let patterns: [fn(u32, u32) -> [u8; 3]; 3] = [
        |x, y| [(x * 6) as u8, (y * 6) as u8, 128],
        |x, _| [200, (x * 5) as u8, 40],
        |_, y| [30, 90, (y * 6) as u8],
    ];
    for (i, pattern) in patterns.into_iter().enumerate() {
        write_png(&dir.join(format!("p{i}.png")), 40, pattern);
    }
}

#[test]
fn train_fast_then_apply_draws_pictures_of_any_size_the_same_way_twice() {
    let work = tempfile::tempdir().unwrap();
    let cwd = work.path();
    write_pictures(&cwd.join("pics"));
    let style = write_png(&cwd.join("style.png"), 40, stripes);
    let train = [
        "style",
        "train-fast",
        &style,
        "--images",
        "pics",
        "--size",
        "32",
        "--steps",
        "4",
        "--sample-every",
        "2",
        "--width",
        "4",
        "--residual-blocks",
        "1",
        "--run",
        "fast",
    ];
    let out = ok(&train, cwd);
    assert!(out.contains("trained 4 steps"), "{out}");
    assert!(out.contains("model:  runs/fast/model.casebook"), "{out}");
    for file in [
        "samples/step_000002.png",
        "samples/step_000004.png",
        "report.html",
    ] {
        assert!(cwd.join("runs/fast").join(file).exists(), "{file}");
    }
    // A finished run resumes to the same end.
    assert!(ok(&["style", "train-fast", "--resume", "runs/fast"], cwd).contains("trained 4 steps"));
    let err = fails(&train, cwd);
    assert!(
        err.contains("already holds a run") && err.contains("--resume"),
        "{err}"
    );

    let odd = image::RgbImage::from_fn(37, 29, |x, y| {
        image::Rgb([(x * 6) as u8, 80, (y * 8) as u8])
    });
    odd.save(cwd.join("odd.png")).unwrap();
    let apply = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "style",
            "apply",
            "runs/fast/model.casebook",
            "odd.png",
            "pics",
            "--out-dir",
            out,
        ];
        args.extend_from_slice(extra);
        ok(&args, cwd)
    };
    let out = apply("drawn", &[]);
    assert!(out.contains("odd.png → drawn/odd.png (37×29,"), "{out}");
    assert!(cwd.join("drawn/p2.png").exists(), "{out}");
    apply("again", &[]);
    for name in ["odd.png", "p0.png"] {
        assert_eq!(
            std::fs::read(cwd.join("drawn").join(name)).unwrap(),
            std::fs::read(cwd.join("again").join(name)).unwrap()
        );
    }
    let out = apply("small", &["--size", "24"]);
    assert!(out.contains("(24×19,"), "{out}");
}

#[test]
fn bad_fast_style_input_gives_one_error_line() {
    let work = tempfile::tempdir().unwrap();
    let cwd = work.path();
    write_pictures(&cwd.join("pics"));
    let style = write_png(&cwd.join("style.png"), 40, stripes);
    std::fs::write(cwd.join("notes.png"), "not a picture").unwrap();
    let train = |extra: &[&str]| {
        let mut args = vec!["style", "train-fast"];
        args.extend_from_slice(extra);
        fails(&args, cwd)
    };
    assert!(train(&[&style, "--images", "pics", "--width", "0"])
        .contains("--width must be between 1 and 256"));
    assert!(train(&[&style, "--images", "pics", "--size", "30"])
        .contains("--size must be a multiple of 4"));
    assert!(train(&[&style, "--images", "missing"]).contains("missing is not a folder of pictures"));
    assert!(train(&["notes.png", "--images", "pics"]).contains("cannot read notes.png as an image"));
    assert!(train(&["--resume", "pics"]).contains("not a casebook run folder"));
    assert!(
        !cwd.join("runs").exists()
            || std::fs::read_dir(cwd.join("runs"))
                .unwrap()
                .next()
                .is_none()
    );

    let apply = |model: &str| {
        fails(
            &["style", "apply", model, "pics", "--out-dir", "drawn"],
            cwd,
        )
    };
    assert!(apply("notes.png").contains("is not a casebook model file"));
    assert!(apply("missing.casebook").contains("cannot read model file missing.casebook"));
    assert!(!cwd.join("drawn").exists());
}

#[test]
fn train_adain_then_apply_adain_draws_one_picture_in_any_style() {
    let work = tempfile::tempdir().unwrap();
    let cwd = work.path();
    write_pictures(&cwd.join("pics"));
    std::fs::create_dir_all(cwd.join("styles")).unwrap();
    let style = write_png(&cwd.join("styles/stripes.png"), 40, stripes);
    let train = [
        "style",
        "train-adain",
        "--images",
        "pics",
        "--styles",
        "styles",
        "--size",
        "16",
        "--batch-size",
        "1",
        "--steps",
        "2",
        "--sample-every",
        "1",
        "--run",
        "adain",
    ];
    let out = ok(&train, cwd);
    assert!(out.contains("trained 2 steps"), "{out}");
    assert!(out.contains("next:   casebook style apply-adain CONTENT STYLE --out OUT.png --model runs/adain/model.casebook"), "{out}");
    assert!(cwd.join("runs/adain/samples/step_000002.png").exists());

    let style: &str = &style;
    let apply = |extra: &[&'static str]| {
        let mut args = vec![
            "style",
            "apply-adain",
            "pics/p0.png",
            style,
            "--model",
            "runs/adain/model.casebook",
        ];
        args.extend_from_slice(extra);
        args
    };
    let out = ok(&apply(&["--out", "a.png", "--alpha", "0.8"]), cwd);
    assert!(out.starts_with("wrote a.png (40×40, alpha 0.8,"), "{out}");
    ok(&apply(&["--out", "b.png", "--alpha", "0.8"]), cwd);
    assert_eq!(
        std::fs::read(cwd.join("a.png")).unwrap(),
        std::fs::read(cwd.join("b.png")).unwrap()
    );
    assert!(ok(&apply(&["--out", "c.jpg", "--size", "24"]), cwd).contains("(24×24,"));
    // The built-in model needs no --model.
    let out = ok(
        &[
            "style",
            "apply-adain",
            "pics/p0.png",
            style,
            "--out",
            "f.png",
        ],
        cwd,
    );
    assert!(out.starts_with("wrote f.png (40×40, alpha 1,"), "{out}");
    let out = ok(
        &[
            "style",
            "apply-adain",
            "pics/p0.png",
            style,
            "--model",
            "builtin-fast",
            "--out",
            "g.png",
        ],
        cwd,
    );
    assert!(out.starts_with("wrote g.png (40×40, alpha 1,"), "{out}");

    assert!(fails(&apply(&["--out", "d.png", "--alpha", "1.5"]), cwd)
        .contains("--alpha must be between 0 and 1"));
    assert!(fails(&apply(&["--out", "d.gif"]), cwd).contains("name it .png or .jpg"));
    assert!(!cwd.join("d.png").exists());
    assert!(fails(
        &[
            "style",
            "train-adain",
            "--images",
            "pics",
            "--styles",
            "styles",
            "--size",
            "20"
        ],
        cwd
    )
    .contains("--size must be a multiple of 8"));
    // A fast-style model is not an AdaIN model.
    ok(
        &[
            "style",
            "train-fast",
            style,
            "--images",
            "pics",
            "--size",
            "16",
            "--steps",
            "1",
            "--width",
            "2",
            "--residual-blocks",
            "0",
            "--run",
            "fast",
        ],
        cwd,
    );
    let err = fails(
        &[
            "style",
            "apply-adain",
            "pics/p0.png",
            style,
            "--model",
            "runs/fast/model.casebook",
            "--out",
            "e.png",
        ],
        cwd,
    );
    assert!(
        err.contains("is a 'style-fast' model, but this command needs a 'style-adain' model"),
        "{err}"
    );
}

#[test]
fn distil_makes_an_encoder_for_train_adain_and_transfer_refuses_it() {
    let work = tempfile::tempdir().unwrap();
    let cwd = work.path();
    write_pictures(&cwd.join("pics"));
    std::fs::create_dir_all(cwd.join("styles")).unwrap();
    let style = write_png(&cwd.join("styles/stripes.png"), 40, stripes);
    let distil = |widths: &'static str, run: &'static str| {
        [
            "style",
            "distil",
            "--images",
            "pics",
            "--features",
            "random",
            "--widths",
            widths,
            "--size",
            "16",
            "--steps",
            "2",
            "--sample-every",
            "1",
            "--run",
            run,
        ]
    };
    let out = ok(&distil("4,4,8,8", "d"), cwd);
    assert!(out.contains("trained 2 steps"), "{out}");
    assert!(
        out.contains("next:   casebook style train-adain --images PHOTOS --styles PAINTINGS --features runs/d/model.casebook --style-features builtin"),
        "{out}"
    );
    let out = ok(
        &[
            "style",
            "train-adain",
            "--images",
            "pics",
            "--styles",
            "styles",
            "--features",
            "runs/d/model.casebook",
            "--style-features",
            "random",
            "--size",
            "16",
            "--batch-size",
            "1",
            "--steps",
            "1",
            "--run",
            "a",
        ],
        cwd,
    );
    assert!(out.contains("trained 1 steps"), "{out}");
    let err = fails(
        &[
            "style",
            "transfer",
            "pics/p0.png",
            &style,
            "--out",
            "t.png",
            "--size",
            "16",
            "--features",
            "runs/d/model.casebook",
        ],
        cwd,
    );
    assert!(
        err.contains("stops at conv4_1, and this needs conv5_1"),
        "{err}"
    );
    assert!(!cwd.join("t.png").exists());
    assert!(fails(&distil("0,4,8,8", "e"), cwd).contains("1–1024"));
    assert!(fails(&distil("4,8,8", "f"), cwd).contains("takes four numbers (got 3)"));
}
