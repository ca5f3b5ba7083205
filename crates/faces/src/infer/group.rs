//! Grouping a folder of photos by person (`casebook face cluster`): every
//! face found is encoded, and the vectors are clustered three ways — dlib's
//! graph method (Chinese whispers: an edge wherever two faces are closer
//! than the verification threshold; the number of people falls out),
//! k-means with the k the user gives, and k-means with k chosen by the
//! silhouette. The chosen method's groups are the answer; the report
//! compares all of them, and against the true people when the sub-folders
//! name them (LFW layout).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use casebook_core::observe::Observer;
use casebook_core::report::{png_img, Report};
use casebook_core::run::RunDir;
use serde::{Deserialize, Serialize};

use super::{read_image, FacePipeline};
use crate::cluster::{
    adjusted_rand_index, chinese_whispers, kmeans, kmeans_auto, nmi, purity, silhouette,
    Clustering, DLIB_ITERATIONS,
};
use crate::geometry::Rect;

/// How the answer's groups are made.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Method {
    /// Chinese whispers over the threshold graph: finds the number of people.
    Graph,
    /// k-means with this many groups.
    KMeans(usize),
    /// k-means with the k of best silhouette.
    KMeansAuto,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterConfig {
    pub folder: PathBuf,
    pub method: Method,
    /// The sub-folders of `folder` are people: score the groups against them.
    pub truth: bool,
    /// Graph edges join faces closer than this [the encoder's threshold when None].
    pub threshold: Option<f32>,
    pub upsample: usize,
    /// Encoder model (file or `builtin`).
    pub model: String,
    pub restarts: usize,
    pub seed: u64,
}

/// One face found in the folder.
#[derive(Debug, Clone, Serialize)]
pub struct FaceRecord {
    /// Path relative to the folder.
    pub file: String,
    /// Index of the face within its image, best score first.
    pub face: usize,
    pub rect: Rect,
    /// The person of the sub-folder, when the folder is labelled.
    pub truth: Option<String>,
}

/// How one method did.
#[derive(Debug, Clone, Serialize)]
pub struct MethodScore {
    pub method: String,
    pub groups: usize,
    /// Mean silhouette (None where it is undefined: one group, or one per face).
    pub silhouette: Option<f64>,
    pub purity: Option<f64>,
    pub nmi: Option<f64>,
    pub ari: Option<f64>,
}

pub struct ClusterOutcome {
    pub faces: Vec<FaceRecord>,
    /// The chosen method's group of each face.
    pub groups: Vec<usize>,
    pub scores: Vec<MethodScore>,
    /// Silhouette per k tried by the automatic k-means.
    pub silhouettes: Vec<(usize, f64)>,
    pub run: RunDir,
}

/// Finds, encodes and groups the faces of `config.folder`; writes
/// `clusters.csv` and `report.html` into `run`.
pub fn cluster_folder(
    config: &ClusterConfig,
    run: RunDir,
    observer: &dyn Observer,
) -> Result<ClusterOutcome> {
    run.start(config, |run| {
        let pipeline = FacePipeline::load(&config.model)?;
        let threshold = config
            .threshold
            .unwrap_or(pipeline.encoder.threshold.distance);
        let (faces, vectors, chips) = encode_folder(config, &pipeline, observer)?;
        if faces.is_empty() {
            bail!("no face found in any image of {}", config.folder.display());
        }
        let truth = truth_labels(&faces);
        let graph = chinese_whispers(&vectors, threshold, DLIB_ITERATIONS, config.seed)?;
        let max_k = vectors.len().saturating_sub(1).clamp(2, 50);
        let (auto, silhouettes) = kmeans_auto(&vectors, 2..=max_k, config.restarts, config.seed)?;
        let mut results = vec![
            (
                format!("graph (Chinese whispers, edges < {threshold:.2})"),
                graph,
            ),
            (
                format!("k-means, k by silhouette ({})", auto.clusters),
                auto,
            ),
        ];
        if let Method::KMeans(k) = config.method {
            results.push((
                format!("k-means, k = {k}"),
                kmeans(&vectors, k, config.restarts, config.seed)?,
            ));
        }
        let chosen = match config.method {
            Method::Graph => 0,
            Method::KMeansAuto => 1,
            Method::KMeans(_) => 2,
        };
        let scores = results
            .iter()
            .map(|(name, c)| score(name, c, &vectors, truth.as_deref()))
            .collect::<Result<Vec<_>>>()?;
        let groups = results[chosen].1.labels.clone();
        write_csv(&run.path().join("clusters.csv"), &faces, &groups)?;
        report(
            &run,
            config,
            &faces,
            &groups,
            &chips,
            &scores,
            chosen,
            &silhouettes,
        )?;
        Ok(ClusterOutcome {
            faces,
            groups,
            scores,
            silhouettes,
            run,
        })
    })
}

type Encoded = (Vec<FaceRecord>, Vec<Vec<f32>>, Vec<image::RgbImage>);

fn encode_folder(
    config: &ClusterConfig,
    pipeline: &FacePipeline,
    observer: &dyn Observer,
) -> Result<Encoded> {
    let (files, skipped) = casebook_vision::image_files(std::slice::from_ref(&config.folder))?;
    for s in &skipped {
        observer.skipped(&s.path, &s.reason);
    }
    if files.is_empty() {
        bail!("no .png or .jpg images in {}", config.folder.display());
    }
    let phase = observer.phase("finding and encoding faces", files.len() as u64);
    let (mut records, mut vectors, mut chips) = (Vec::new(), Vec::new(), Vec::new());
    for file in &files {
        observer.check_stop(String::new)?;
        let relative = file.strip_prefix(&config.folder).unwrap_or(file);
        let truth = if config.truth {
            person_of(relative)
        } else {
            None
        };
        if config.truth && truth.is_none() {
            observer.skipped(file, "not inside a person's sub-folder");
        } else {
            match read_image(file) {
                Ok(image) => {
                    let faces = pipeline.find(&image, config.upsample);
                    if faces.is_empty() {
                        observer.skipped(file, "no face found");
                    }
                    vectors.extend(pipeline.encode(&faces)?);
                    for (i, face) in faces.into_iter().enumerate() {
                        records.push(FaceRecord {
                            file: relative.display().to_string(),
                            face: i,
                            rect: face.detection.rect,
                            truth: truth.clone(),
                        });
                        chips.push(face.chip);
                    }
                }
                Err(e) => observer.skipped(file, &format!("{e:#}")),
            }
        }
        phase.advance(1);
    }
    Ok((records, vectors, chips))
}

/// The sub-folder a labelled image sits in.
fn person_of(relative: &Path) -> Option<String> {
    let mut parts = relative.components();
    let person = parts.next()?;
    parts
        .next()
        .map(|_| person.as_os_str().to_string_lossy().into_owned())
}

fn truth_labels(faces: &[FaceRecord]) -> Option<Vec<usize>> {
    let mut people: Vec<&str> = Vec::new();
    faces
        .iter()
        .map(|f| {
            let person = f.truth.as_deref()?;
            Some(match people.iter().position(|p| *p == person) {
                Some(i) => i,
                None => {
                    people.push(person);
                    people.len() - 1
                }
            })
        })
        .collect()
}

fn score(
    name: &str,
    clustering: &Clustering,
    vectors: &[Vec<f32>],
    truth: Option<&[usize]>,
) -> Result<MethodScore> {
    let labels = &clustering.labels;
    let scorable = (2..vectors.len()).contains(&clustering.clusters);
    let external =
        |f: fn(&[usize], &[usize]) -> Result<f64>| truth.map(|t| f(t, labels)).transpose();
    Ok(MethodScore {
        method: name.to_string(),
        groups: clustering.clusters,
        silhouette: if scorable {
            Some(silhouette(vectors, labels)?)
        } else {
            None
        },
        purity: external(purity)?,
        nmi: external(nmi)?,
        ari: external(adjusted_rand_index)?,
    })
}

fn write_csv(path: &Path, faces: &[FaceRecord], groups: &[usize]) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["file", "face", "left", "top", "right", "bottom", "cluster"])?;
    for (face, group) in faces.iter().zip(groups) {
        let r = face.rect;
        writer.write_record([
            face.file.clone(),
            face.face.to_string(),
            r.left.to_string(),
            r.top.to_string(),
            r.right.to_string(),
            r.bottom.to_string(),
            group.to_string(),
        ])?;
    }
    casebook_core::fsx::write_atomic(path, &writer.into_inner()?)
}

const THUMBNAILS_PER_GROUP: usize = 12;

#[allow(clippy::too_many_arguments)]
fn report(
    run: &RunDir,
    config: &ClusterConfig,
    faces: &[FaceRecord],
    groups: &[usize],
    chips: &[image::RgbImage],
    scores: &[MethodScore],
    chosen: usize,
    silhouettes: &[(usize, f64)],
) -> Result<()> {
    let mut report = Report::new(format!("Faces of {}", config.folder.display()));
    report.paragraph(&format!(
        "{} faces; groups by {} (marked *).",
        faces.len(),
        scores[chosen].method
    ));
    let fmt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    let rows: Vec<Vec<String>> = scores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mark = if i == chosen { " *" } else { "" };
            vec![
                format!("{}{mark}", s.method),
                s.groups.to_string(),
                fmt(s.silhouette),
                fmt(s.purity),
                fmt(s.nmi),
                fmt(s.ari),
            ]
        })
        .collect();
    report.heading("Methods compared");
    report.table(
        &["method", "groups", "silhouette", "purity", "NMI", "ARI"],
        &rows,
    );
    if config.truth {
        report.paragraph("Purity: the share of faces in a group whose person is that group's most common. NMI and ARI: agreement with the true people (1 = the same partition; ARI ≈ 0 = chance).");
    }
    if !silhouettes.is_empty() {
        let rows: Vec<Vec<String>> = silhouettes
            .iter()
            .map(|(k, s)| vec![k.to_string(), format!("{s:.3}")])
            .collect();
        report.heading("Silhouette by k (k-means)");
        report.table(&["k", "mean silhouette"], &rows);
    }
    report.heading("Groups");
    let count = groups.iter().max().map_or(0, |m| m + 1);
    for group in 0..count {
        let members: Vec<usize> = (0..faces.len()).filter(|&i| groups[i] == group).collect();
        let mut html = format!("<h3>Group {group} ({} faces)</h3><div>", members.len());
        for &i in members.iter().take(THUMBNAILS_PER_GROUP) {
            let png = casebook_vision::png_bytes(&image::imageops::thumbnail(&chips[i], 64, 64))?;
            let title = format!("{} face {}", faces[i].file, faces[i].face);
            html.push_str(&png_img(&png, &title));
            html.push(' ');
        }
        html.push_str("</div>");
        report.html(&html);
    }
    report.save(&run.report_path())
}
