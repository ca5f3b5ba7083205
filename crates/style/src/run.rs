//! A transfer as a run folder, like every casebook command that works for a
//! while: `config.json` (settings and inputs), `metrics.jsonl` (the losses
//! at every iteration), `result.png`, and `report.html` with the pictures,
//! the loss curves and a strip of frames showing the picture form.

use anyhow::Result;
use casebook_core::observe::Observer;
use casebook_core::plot::{line_chart, Series};
use casebook_core::report::{escape, png_img, Report};
use casebook_core::run::{MetricsRecord, RunDir};
use casebook_vision::png_bytes;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::data::save_picture;
use crate::infer::{transfer, StyleInput, Transfer, TransferConfig};
use crate::model::{FeatureNet, Pool, Source};

/// Side of the frames shown in the report's strip.
const FRAME_SIDE: u32 = 128;

/// Everything a transfer was made from, as `config.json` records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferRecord {
    pub config: TransferConfig,
    pub content: String,
    /// Each style picture and its share.
    pub styles: Vec<(String, f32)>,
    pub features: Source,
    pub pool: Pool,
    /// Iterations between frames (report strip, `on_frame`).
    pub frame_every: usize,
}

pub struct TransferRun {
    pub transfer: Transfer,
    pub run: RunDir,
}

/// Runs [`transfer`] in `run`, writing the run's files; `on_frame` sees the
/// full-size picture every `record.frame_every` iterations.
pub fn run_transfer(
    net: &FeatureNet,
    content: &RgbImage,
    styles: &[StyleInput],
    record: &TransferRecord,
    run: RunDir,
    observer: &dyn Observer,
    on_frame: &mut dyn FnMut(usize, &RgbImage) -> Result<()>,
) -> Result<TransferRun> {
    run.start(record, |run| {
        let mut frames = Vec::new();
        let done = transfer(
            net,
            content,
            styles,
            &record.config,
            Some(record.frame_every),
            observer,
            &mut |iteration, picture| {
                frames.push((
                    iteration,
                    image::imageops::thumbnail(picture, FRAME_SIDE, FRAME_SIDE),
                ));
                on_frame(iteration, picture)
            },
        )?;
        let metrics: Vec<MetricsRecord> = done
            .history
            .iter()
            .map(|l| {
                MetricsRecord::new(l.iteration)
                    .with("content", l.content as f64)
                    .with("style", l.style as f64)
                    .with("tv", l.tv as f64)
                    .with("total", l.total as f64)
            })
            .collect();
        run.write_metrics(&metrics)?;
        save_picture(&run.path().join("result.png"), &done.picture)?;
        report(record, content, styles, &done, &frames)?.save(&run.report_path())?;
        Ok(TransferRun {
            transfer: done,
            run,
        })
    })
}

fn report(
    record: &TransferRecord,
    content: &RgbImage,
    styles: &[StyleInput],
    done: &Transfer,
    frames: &[(usize, RgbImage)],
) -> Result<Report> {
    let c = &record.config;
    let mut report = Report::new("Style transfer");
    report.paragraph(&format!(
        "{} iterations of {:?} at size {} from {:?}; weights content {}, style {}, total variation {}; {} network, {:?} pooling{}.",
        done.stopped_after.unwrap_or(c.iterations),
        c.method,
        c.size,
        c.init,
        c.content_weight,
        c.style_weight,
        c.tv_weight,
        record.features,
        record.pool,
        if c.preserve_colours { "; content colours kept" } else { "" },
    ));
    let mut pictures = vec![(format!("content: {}", record.content), content.clone())];
    for ((file, share), style) in record.styles.iter().zip(styles) {
        pictures.push((
            format!("style: {file} (share {share})"),
            style.picture.clone(),
        ));
    }
    pictures.push(("result".to_string(), done.picture.clone()));
    report.heading("Pictures").html(&picture_strip(&pictures)?);

    report.heading("Losses").paragraph(
        "Relative errors before weighting: content against the content picture's activations, style against the style's Gram matrices (each divided by the size of its target); total variation in pixel units.",
    );
    let curve = |f: fn(&crate::infer::Losses) -> f32| {
        done.history
            .iter()
            .map(|l| (l.iteration as f64, f(l) as f64))
            .collect::<Vec<_>>()
    };
    report.figure(&line_chart(
        "Losses by iteration",
        "iteration",
        "loss",
        &[
            Series::new("content", curve(|l| l.content)),
            Series::new("style", curve(|l| l.style)),
            Series::new("total variation", curve(|l| l.tv)),
        ],
    )?);
    if !frames.is_empty() {
        let frames: Vec<(String, RgbImage)> = frames
            .iter()
            .map(|(iteration, frame)| (iteration.to_string(), frame.clone()))
            .collect();
        report
            .heading("The picture forming")
            .html(&picture_strip(&frames)?);
    }
    Ok(report)
}

/// Pictures side by side, each with its caption (escaped here).
pub(crate) fn picture_strip(pictures: &[(String, RgbImage)]) -> Result<String> {
    let mut html = String::from("<div>");
    for (caption, picture) in pictures {
        html.push_str(&format!(
            "<figure style=\"display:inline-block\">{}<figcaption>{}</figcaption></figure>",
            png_img(&png_bytes(picture)?, caption),
            escape(caption)
        ));
    }
    html.push_str("</div>");
    Ok(html)
}
