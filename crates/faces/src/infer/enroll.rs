//! Enrolling people into a gallery from their photos (`casebook face
//! enroll`, the studio's enrolment job): each photo adds one vector, of its
//! largest face.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use casebook_core::observe::Observer;
use casebook_vision::{ScannedDataset, Skipped};

use super::{main_face, read_image, FacePipeline, FoundFace};
use crate::gallery::Gallery;

/// The largest face of the photo at `path` (the person nearest the
/// camera); a note says so when the photo shows several.
pub fn largest_face(
    pipeline: &FacePipeline,
    path: &Path,
    upsample: usize,
    observer: &dyn Observer,
) -> Result<FoundFace> {
    let image = read_image(path)?;
    let mut faces = pipeline.find(&image, upsample);
    let Some(i) = main_face(&faces) else {
        bail!(
            "no face found in {}{}",
            path.display(),
            if upsample < 2 {
                " (try upsampling, --upsample 2, for small faces)"
            } else {
                ""
            }
        );
    };
    if faces.len() > 1 {
        let r = faces[i].detection.rect;
        observer.note(&format!(
            "{} shows {} faces; using the largest, at {},{},{},{}",
            path.display(),
            faces.len(),
            r.left,
            r.top,
            r.right,
            r.bottom
        ));
    }
    Ok(faces.swap_remove(i))
}

/// A person's name and photos.
pub type PersonPhotos = (String, Vec<PathBuf>);

/// Each person's photos in a folder with one sub-folder per person (LFW
/// layout), and the files left out.
pub fn people_folders(dir: &Path) -> Result<(Vec<PersonPhotos>, Vec<Skipped>)> {
    let set = ScannedDataset::scan(dir)?;
    let mut people: Vec<PersonPhotos> = set
        .classes
        .iter()
        .map(|c| (c.clone(), Vec::new()))
        .collect();
    for (file, person) in &set.items {
        people[*person].1.push(set.root.join(file));
    }
    Ok((people, set.skipped))
}

/// What an enrolment added.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrolled {
    pub photos: usize,
    /// The people with at least one photo enrolled.
    pub people: Vec<String>,
}

/// Enrols each person's photos into `book`. Photos that cannot be read or
/// show no face are reported as skipped; an enrolment that adds no one is
/// an error.
pub fn enroll_people(
    pipeline: &FacePipeline,
    book: &mut Gallery,
    people: &[PersonPhotos],
    upsample: usize,
    observer: &dyn Observer,
) -> Result<Enrolled> {
    book.check_encoder(&pipeline.encoder)?;
    let total = people.iter().map(|(_, photos)| photos.len()).sum::<usize>();
    let phase = observer.phase("enrolling", total as u64);
    let mut enrolled = Enrolled {
        photos: 0,
        people: Vec::new(),
    };
    for (name, photos) in people {
        let mut added = 0;
        for photo in photos {
            observer.check_stop(String::new)?;
            match largest_face(pipeline, photo, upsample, observer) {
                Ok(face) => {
                    let vector = pipeline.encode(std::slice::from_ref(&face))?.remove(0);
                    book.enroll(name, &vector, &photo.display().to_string())?;
                    added += 1;
                }
                Err(e) => observer.skipped(photo, &format!("{e:#}")),
            }
            phase.advance(1);
        }
        if added > 0 {
            enrolled.people.push(name.clone());
            enrolled.photos += added;
        }
    }
    match people {
        _ if !enrolled.people.is_empty() => Ok(enrolled),
        [(name, photos)] => bail!(
            "no face of {name} could be enrolled from {} photo{}",
            photos.len(),
            if photos.len() == 1 { "" } else { "s" }
        ),
        _ => bail!("no face could be enrolled from any photo"),
    }
}
