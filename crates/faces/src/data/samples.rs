//! A few real, freely licensed photos compiled into casebook, for the demo
//! and for trying the face commands without data of one's own. They are the
//! test photos of this crate; their sources and licences (public domain or
//! CC0) are in `tests/fixtures/images/SOURCES.md`.

use std::path::{Path, PathBuf};

use anyhow::Result;

/// (person, file name, PNG bytes). Grace Hopper's two files are one
/// photograph at two resolutions; Edwin Torres's are two photographs.
pub const SAMPLES: [(&str, &str, &[u8]); 7] = [
    (
        "edwin_torres",
        "edwin_a.png",
        include_bytes!("../../tests/fixtures/images/edwin_a.png"),
    ),
    (
        "edwin_torres",
        "edwin_b.png",
        include_bytes!("../../tests/fixtures/images/edwin_b.png"),
    ),
    (
        "grace_hopper",
        "grace_hopper.png",
        include_bytes!("../../tests/fixtures/images/grace_hopper.png"),
    ),
    (
        "grace_hopper",
        "hopper_small.png",
        include_bytes!("../../tests/fixtures/images/hopper_small.png"),
    ),
    (
        "sally_ride",
        "sally_ride.png",
        include_bytes!("../../tests/fixtures/images/sally_ride.png"),
    ),
    (
        "eileen_collins",
        "astronaut.png",
        include_bytes!("../../tests/fixtures/images/astronaut.png"),
    ),
    (
        "unnamed_cameraman",
        "cameraman.png",
        include_bytes!("../../tests/fixtures/images/cameraman.png"),
    ),
];

/// Writes the samples as `dir/<person>/<file>` (the LFW layout); returns each file's path.
pub fn write_samples(dir: &Path) -> Result<Vec<PathBuf>> {
    SAMPLES
        .iter()
        .map(|(person, file, bytes)| {
            let path = dir.join(person).join(file);
            casebook_core::fsx::write_atomic(&path, bytes)?;
            Ok(path)
        })
        .collect()
}
