//! Studies that answer design questions with measurements:
//!
//! - **resolution study**: what input resolution is enough? Train and test at
//!   each resolution on the same split, then recommend the smallest within one
//!   point of the best; optionally write a page where a person labels the same
//!   test images shrunk to each resolution (the human baseline).
//! - **learning curve**: would more data help? Train on growing stratified
//!   fractions of the training split and read the slope at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use casebook_core::human::{self, KeyEntry, PageText, Question};
use casebook_core::observe::Observer;
use casebook_core::report::{escape, png_img, Report};
use casebook_core::run::{RunDir, Training};
use casebook_core::seed::{self, purpose};
use casebook_core::split::{ManifestItem, SplitFractions, SplitManifest};
use casebook_core::{fsx, plot};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::train::{TrainConfig, TrainOutcome};
use casebook_vision::{load_square, png_bytes, ScannedDataset};

/// Points of accuracy within which a smaller resolution counts as good enough.
const GOOD_ENOUGH: f64 = 0.01;

/// One trained point of a study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyPoint {
    pub resolution: u32,
    pub train_fraction: f64,
    pub train_images: usize,
    pub test_accuracy: f64,
    /// Images in the test split the accuracy was measured on.
    #[serde(default)]
    pub test_images: usize,
    pub best_val_accuracy: f64,
    /// The chosen model's accuracy on the `--val` folder, if one was given.
    #[serde(default)]
    pub val_folder_accuracy: Option<f64>,
    pub train_seconds: f64,
    pub inference_ms_per_image: f64,
}

impl StudyPoint {
    fn from_outcome(config: &TrainConfig, o: &TrainOutcome) -> Self {
        Self {
            resolution: config.resolution,
            train_fraction: config.train_fraction,
            train_images: o.train_count,
            test_accuracy: o.test.accuracy,
            test_images: o.test.count,
            best_val_accuracy: o
                .history
                .iter()
                .map(|r| r.get("val_accuracy"))
                .fold(0.0, f64::max),
            val_folder_accuracy: o.val_folder.as_ref().map(|e| e.accuracy),
            train_seconds: o.train_seconds,
            inference_ms_per_image: o.inference_ms_per_image,
        }
    }
}

/// Trains one run per config inside `study`, all on the study's one split.
fn train_series(
    study: &RunDir,
    base: &TrainConfig,
    variants: Vec<(String, TrainConfig)>,
    observer: &dyn Observer,
) -> Result<Vec<StudyPoint>> {
    let split_path = study.path().join("split.json");
    let manifest =
        ScannedDataset::scan_for_training(&base.data)?.split(SplitFractions::default(), base.seed);
    manifest.save(&split_path)?;
    let mut points = Vec::new();
    for (name, mut config) in variants {
        observer.note(&format!("== {name}"));
        config.split = Some(split_path.clone());
        let run = RunDir::create(study.path(), Some(&name), "study")?;
        let outcome = config.train(run, observer)?;
        points.push(StudyPoint::from_outcome(&config, &outcome));
    }
    Ok(points)
}

/// Result of a resolution study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolutionStudy {
    pub points: Vec<StudyPoint>,
    pub recommended: u32,
    pub human_page: Option<PathBuf>,
}

/// The smallest resolution whose test accuracy is within [`GOOD_ENOUGH`] of the best.
pub fn recommend(points: &[StudyPoint]) -> u32 {
    let best = points.iter().map(|p| p.test_accuracy).fold(0.0, f64::max);
    points
        .iter()
        .filter(|p| p.test_accuracy >= best - GOOD_ENOUGH - 1e-12)
        .map(|p| p.resolution)
        .min()
        .unwrap_or(0)
}

pub fn resolution_study(
    study: &RunDir,
    base: &TrainConfig,
    resolutions: &[u32],
    human_page: Option<(&Path, usize)>,
    observer: &dyn Observer,
) -> Result<ResolutionStudy> {
    if resolutions.is_empty() {
        bail!("give at least one resolution, e.g. --resolutions 16,32,64");
    }
    let mut sorted = resolutions.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    study.write_config(
        &serde_json::json!({ "study": "resolution", "resolutions": sorted, "base": base }),
    )?;
    let variants = sorted
        .iter()
        .map(|&r| {
            (
                format!("res-{r}"),
                TrainConfig {
                    resolution: r,
                    ..base.clone()
                },
            )
        })
        .collect();
    let points = train_series(study, base, variants, observer)?;
    let recommended = recommend(&points);
    let page = match human_page {
        Some((out, count)) => {
            let manifest = SplitManifest::load(&study.path().join("split.json"))?;
            let model_accuracy = points
                .iter()
                .map(|p| (p.resolution, p.test_accuracy))
                .collect();
            let page = HumanPage {
                out,
                key_path: &study.path().join("human-key.json"),
                per_resolution: count,
                model_accuracy,
            };
            write_human_page(&page, &base.data, &manifest, &sorted, base.seed)?;
            Some(out.to_path_buf())
        }
        None => None,
    };
    let result = ResolutionStudy {
        points,
        recommended,
        human_page: page,
    };
    fsx::write_json(&study.path().join("results.json"), &result)?;

    let mut report = Report::new("Resolution study");
    report.paragraph(&format!(
        "Each resolution was trained for up to {} epochs on the same split of {} and tested on the same held-out images. \
         Recommended: {recommended}×{recommended}, the smallest within {:.0} point of the best test accuracy.",
        base.epochs,
        base.data.display(),
        GOOD_ENOUGH * 100.0
    ));
    let mut headers = vec![
        "resolution",
        "test accuracy",
        "train time (s)",
        "inference (ms/image)",
    ];
    if has_val_folder(&result.points) {
        headers.push(VAL_FOLDER_COLUMN);
    }
    report.table(&headers, &point_rows(&result.points));
    let series = |f: fn(&StudyPoint) -> f64| {
        result
            .points
            .iter()
            .map(|p| (p.resolution as f64, f(p)))
            .collect::<Vec<_>>()
    };
    report.figure(&plot::line_chart(
        "test accuracy",
        "resolution (px)",
        "accuracy",
        &with_val_folder(
            vec![plot::Series::new("test", series(|p| p.test_accuracy))],
            &result.points,
            |p| p.resolution as f64,
        ),
    )?);
    report.figure(&plot::line_chart(
        "training time",
        "resolution (px)",
        "seconds",
        &[plot::Series::new("train", series(|p| p.train_seconds))],
    )?);
    report.figure(&plot::line_chart(
        "inference time",
        "resolution (px)",
        "ms per image",
        &[plot::Series::new(
            "predict",
            series(|p| p.inference_ms_per_image),
        )],
    )?);
    if let Some(page) = &result.human_page {
        report.paragraph(&format!(
            "Human baseline page: {}. Answer it, save the answers, then run `casebook image human-baseline ANSWERS.json`.",
            page.display()
        ));
    }
    report.save(&study.report_path())?;
    Ok(result)
}

fn point_rows(points: &[StudyPoint]) -> Vec<Vec<String>> {
    points
        .iter()
        .map(|p| {
            let mut row = vec![
                format!("{}×{}", p.resolution, p.resolution),
                format!("{:.2}%", 100.0 * p.test_accuracy),
                format!("{:.1}", p.train_seconds),
                format!("{:.2}", p.inference_ms_per_image),
            ];
            row.extend(val_folder_cell(p));
            row
        })
        .collect()
}

/// Header of the `--val` folder's column.
const VAL_FOLDER_COLUMN: &str = "--val accuracy";

/// Whether the study's runs scored a `--val` folder.
fn has_val_folder(points: &[StudyPoint]) -> bool {
    points.iter().any(|p| p.val_folder_accuracy.is_some())
}

/// The `--val` folder's cell of a point's row, if it has one.
fn val_folder_cell(p: &StudyPoint) -> Option<String> {
    p.val_folder_accuracy.map(|a| format!("{:.2}%", 100.0 * a))
}

/// `curves` and, where the runs scored a `--val` folder, its curve.
fn with_val_folder(
    mut curves: Vec<plot::Series>,
    points: &[StudyPoint],
    x: fn(&StudyPoint) -> f64,
) -> Vec<plot::Series> {
    if has_val_folder(points) {
        let values = points
            .iter()
            .filter_map(|p| p.val_folder_accuracy.map(|a| (x(p), a)))
            .collect();
        curves.push(plot::Series::new("--val folder", values));
    }
    curves
}

/// Renders the learning curve's table and reading for the terminal.
pub fn curve_table(curve: &LearningCurve) -> String {
    let mut s = format!(
        "{:>9} {:>16} {:>14}",
        "fraction", "training images", "test accuracy"
    );
    if has_val_folder(&curve.points) {
        s.push_str(&format!(" {VAL_FOLDER_COLUMN:>15}"));
    }
    s.push('\n');
    for p in &curve.points {
        s.push_str(&format!(
            "{:>9} {:>16} {:>13.2}%",
            p.train_fraction,
            p.train_images,
            100.0 * p.test_accuracy
        ));
        if let Some(cell) = val_folder_cell(p) {
            s.push_str(&format!(" {cell:>15}"));
        }
        s.push('\n');
    }
    s.push_str(&format!("reading: {}\n", curve.reading));
    s
}

/// Renders the study table for the terminal.
pub fn resolution_table(study: &ResolutionStudy) -> String {
    let mut s = format!(
        "{:>10} {:>14} {:>15} {:>14}",
        "resolution", "test accuracy", "train time (s)", "ms per image"
    );
    if has_val_folder(&study.points) {
        s.push_str(&format!(" {VAL_FOLDER_COLUMN:>15}"));
    }
    s.push('\n');
    for row in point_rows(&study.points) {
        s.push_str(&format!(
            "{:>10} {:>14} {:>15} {:>14}",
            row[0], row[1], row[2], row[3]
        ));
        if let Some(cell) = row.get(4) {
            s.push_str(&format!(" {cell:>15}"));
        }
        s.push('\n');
    }
    s.push_str(&format!("recommended resolution: {}\n", study.recommended));
    s
}

/// The kind of study its human page records ([`PageText::study`]).
pub const HUMAN_STUDY: &str = "image resolution";

struct HumanPage<'a> {
    out: &'a Path,
    key_path: &'a Path,
    per_resolution: usize,
    model_accuracy: BTreeMap<u32, f64>,
}

fn write_human_page(
    page: &HumanPage,
    root: &Path,
    manifest: &SplitManifest,
    resolutions: &[u32],
    seed: u64,
) -> Result<()> {
    let mut rng = seed::stream(seed, &[purpose::HUMAN_PAGE]);
    // Each photo at one resolution only: a sharp copy would give its
    // blurred one away. With too few test photos, fewer per resolution.
    let mut items = manifest.test.clone();
    items.shuffle(&mut rng);
    let per = page
        .per_resolution
        .min(items.len() / resolutions.len().max(1));
    let mut picks: Vec<(u32, ManifestItem)> = resolutions
        .iter()
        .zip(items.chunks(per.max(1)))
        .flat_map(|(&r, chunk)| chunk.iter().take(per).map(move |item| (r, item.clone())))
        .collect();
    picks.shuffle(&mut rng);
    let questions = picks
        .into_iter()
        .enumerate()
        .map(|(i, (r, item))| {
            let img = load_square(&root.join(&item.path), r)
                .map_err(|e| anyhow::anyhow!("{}: {e}", item.path))?;
            Ok(Question {
                media_html: png_img(&png_bytes(&img)?, &format!("question {i}")),
                entry: KeyEntry {
                    condition: r,
                    label: item.label.clone(),
                    path: item.path.clone(),
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let intro = format!(
        "Some photos are shown at very low resolution (enlarged). Choose {} for each.",
        escape(&manifest.classes.join(" / "))
    );
    let text = PageText {
        study: HUMAN_STUDY,
        heading: "Which class is each photo?",
        intro: &intro,
        command: "casebook image human-baseline",
    };
    human::write_page(
        page.out,
        page.key_path,
        &text,
        &manifest.classes,
        questions,
        page.model_accuracy.clone(),
    )
}

/// Result of a learning-curve study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LearningCurve {
    pub points: Vec<StudyPoint>,
    pub reading: String,
}

/// Reads the end of the curve: does the last step up in data still pay?
/// A step up only counts where the two accuracies' 95 % intervals do not
/// overlap; a flat end says how large a step this test set could not see.
pub fn read_curve(points: &[StudyPoint]) -> String {
    match points {
        [.., a, b] => {
            let gain = b.test_accuracy - a.test_accuracy;
            let interval = |p: &StudyPoint| {
                let right = (p.test_accuracy * p.test_images as f64).round() as usize;
                casebook_core::interval::wilson(right, p.test_images).unwrap_or((0.0, 1.0))
            };
            let ((a_low, a_high), (b_low, b_high)) = (interval(a), interval(b));
            let step = format!(
                "{:+.1} points from {} to {} training images",
                100.0 * gain,
                a.train_images,
                b.train_images
            );
            if gain > GOOD_ENOUGH && a_high < b_low {
                format!("more data still helps: {step}")
            } else if gain > GOOD_ENOUGH {
                format!(
                    "not measurable here: {step}, but on {} test images the two accuracies' \
                     95 % intervals ({:.1}–{:.1} % and {:.1}–{:.1} %) overlap, so the step may \
                     be chance; measure on more images (a larger dataset, or --val with a \
                     labelled folder)",
                    b.test_images,
                    100.0 * a_low,
                    100.0 * a_high,
                    100.0 * b_low,
                    100.0 * b_high
                )
            } else {
                format!(
                    "flat: {step}; more data of the same kind is unlikely to help, try a larger \
                     model or harder examples (on {} test images, the accuracy's 95 % interval \
                     is {:.1}–{:.1} %)",
                    b.test_images,
                    100.0 * b_low,
                    100.0 * b_high
                )
            }
        }
        _ => "one point only: give several --fractions to see a trend".to_string(),
    }
}

pub fn learning_curve(
    study: &RunDir,
    base: &TrainConfig,
    fractions: &[f64],
    observer: &dyn Observer,
) -> Result<LearningCurve> {
    let mut sorted: Vec<f64> = fractions.to_vec();
    if sorted.iter().any(|f| !(*f > 0.0 && *f <= 1.0)) {
        bail!("--fractions must lie in (0, 1], e.g. 0.1,0.25,0.5,1");
    }
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    study.write_config(
        &serde_json::json!({ "study": "learning-curve", "fractions": sorted, "base": base }),
    )?;
    let variants = sorted
        .iter()
        .map(|&f| {
            (
                format!("fraction-{f}"),
                TrainConfig {
                    train_fraction: f,
                    ..base.clone()
                },
            )
        })
        .collect();
    let points = train_series(study, base, variants, observer)?;
    let curve = LearningCurve {
        reading: read_curve(&points),
        points,
    };
    fsx::write_json(&study.path().join("results.json"), &curve)?;
    let mut report = Report::new("Learning curve");
    report.paragraph(&format!("Reading: {}.", curve.reading));
    let rows: Vec<Vec<String>> = curve
        .points
        .iter()
        .map(|p| {
            let mut row = vec![
                format!("{}", p.train_fraction),
                p.train_images.to_string(),
                format!("{:.2}%", 100.0 * p.test_accuracy),
                format!("{:.2}%", 100.0 * p.best_val_accuracy),
            ];
            row.extend(val_folder_cell(p));
            row
        })
        .collect();
    let mut headers = vec![
        "fraction",
        "training images",
        "test accuracy",
        "best validation accuracy",
    ];
    if has_val_folder(&curve.points) {
        headers.push(VAL_FOLDER_COLUMN);
    }
    report.table(&headers, &rows);
    let series = |f: fn(&StudyPoint) -> f64| {
        curve
            .points
            .iter()
            .map(|p| (p.train_images as f64, f(p)))
            .collect::<Vec<_>>()
    };
    report.figure(&plot::line_chart(
        "accuracy against training-set size",
        "training images",
        "accuracy",
        &with_val_folder(
            vec![
                plot::Series::new("test", series(|p| p.test_accuracy)),
                plot::Series::new("validation", series(|p| p.best_val_accuracy)),
            ],
            &curve.points,
            |p| p.train_images as f64,
        ),
    )?);
    report.save(&study.report_path())?;
    Ok(curve)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(resolution: u32, acc: f64, n: usize) -> StudyPoint {
        StudyPoint {
            resolution,
            train_fraction: 1.0,
            train_images: n,
            test_accuracy: acc,
            test_images: 10_000,
            best_val_accuracy: acc,
            val_folder_accuracy: None,
            train_seconds: 1.0,
            inference_ms_per_image: 1.0,
        }
    }

    #[test]
    fn recommends_smallest_within_one_point_of_best() {
        let pts = [
            point(16, 0.90, 0),
            point(32, 0.975, 0),
            point(64, 0.98, 0),
            point(128, 0.981, 0),
        ];
        assert_eq!(recommend(&pts), 32);
    }

    #[test]
    fn curve_reading_follows_the_last_step() {
        assert!(read_curve(&[point(64, 0.8, 100), point(64, 0.9, 200)])
            .starts_with("more data still helps"));
        assert!(read_curve(&[point(64, 0.95, 100), point(64, 0.953, 200)]).starts_with("flat"));
        // The same 10-point step measured on 20 test images proves nothing.
        let small = |acc, n| StudyPoint {
            test_images: 20,
            ..point(64, acc, n)
        };
        let reading = read_curve(&[small(0.8, 100), small(0.9, 200)]);
        assert!(reading.starts_with("not measurable"), "{reading}");
    }
}
