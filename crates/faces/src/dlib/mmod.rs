//! The MMOD detector's options (`mmod_options`, `dlib/dnn/loss.h`) and its
//! pyramid input layer (`input_rgb_image_pyramid`, `dlib/dnn/input.h`).

use super::{DlibError, Reader};

/// What the detector's loss layer knows about decoding its output.
#[derive(Debug, Clone, PartialEq)]
pub struct MmodOptions {
    /// Detector windows (width, height), one output channel each.
    pub windows: Vec<(usize, usize)>,
    /// Non-max suppression: a box is dropped when its overlap with a kept one,
    /// divided by the area of the box enclosing both, exceeds this.
    pub nms_iou: f64,
    /// Or when the overlap covers more than this fraction of either box.
    pub nms_covered: f64,
    pub bounding_box_regression: bool,
}

impl MmodOptions {
    /// Reads versions 1–4 of `mmod_options` (after the `loss_mmod_` tag).
    pub fn read(r: &mut Reader) -> Result<Self, DlibError> {
        let version = r.expect_version(&[1, 2, 3, 4], "mmod_options")?;
        let windows = if version == 1 {
            vec![(r.count("window width")?, r.count("window height")?)]
        } else {
            let n = r.count("detector windows")?;
            if n > 1024 {
                return Err(r.unexpected(format!("{n} detector windows")));
            }
            let mut windows = Vec::with_capacity(n);
            for _ in 0..n {
                let window_version = r.expect_version(&[1, 2], "detector_window_details")?;
                windows.push((r.count("window width")?, r.count("window height")?));
                if window_version == 2 {
                    r.string()?; // label
                }
            }
            windows
        };
        if windows.is_empty() || windows.iter().any(|&(w, h)| w == 0 || h == 0) {
            return Err(r.unexpected("no usable detector window"));
        }
        for _ in 0..3 {
            r.float()?; // training losses and the truth-match threshold
        }
        let (nms_iou, nms_covered) = (r.float()?, r.float()?);
        r.float()?; // overlaps_ignore: training only
        r.float()?;
        if version >= 3 {
            r.take_byte()?; // assume_image_pyramid
        }
        let bounding_box_regression = version == 4 && r.bool()?;
        if version == 4 {
            r.float()?; // bbr_lambda
        }
        Ok(Self {
            windows,
            nms_iou,
            nms_covered,
            bounding_box_regression,
        })
    }
}

/// The tiled pyramid's padding between levels and around the image,
/// after the input layer's mean (version 1 stored none: 10 and 11).
pub fn read_pyramid_padding(r: &mut Reader, tag: &str) -> Result<(usize, usize), DlibError> {
    if tag == "input_rgb_image_pyramid2" {
        Ok((
            r.count("pyramid padding")?,
            r.count("pyramid outer padding")?,
        ))
    } else {
        Ok((10, 11))
    }
}
