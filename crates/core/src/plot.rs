//! Plots for run reports, drawn by `plotters` into SVG strings so the HTML
//! report stays one self-contained file.

use anyhow::{anyhow, Result};
use plotters::prelude::*;

const SIZE: (u32, u32) = (560, 360);
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A named line of (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

/// The axis range of `values`, padded; values that all lie in [0, 1]
/// (accuracies, rates) keep an axis within it: a flat accuracy of 0.9 drew
/// an axis up to 1.4.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let (low, high) = if (hi - lo).abs() < 1e-12 {
        (lo - 0.5, hi + 0.5)
    } else {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    };
    if lo >= 0.0 && hi <= 1.0 {
        (low.max(0.0), high.min(1.0))
    } else {
        (low, high)
    }
}

/// A line chart with markers and a legend.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<String> {
    let xs = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let ys = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)
            .map_err(|e| anyhow!("plot: {e}"))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()
            .map_err(|e| anyhow!("plot: {e}"))?;
        for (i, s) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| anyhow!("plot: {e}"))?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            // Markers help read a few epochs; on a long curve (ROC) they only clutter.
            if s.points.len() <= 40 {
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| anyhow!("plot: {e}"))?;
            }
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| anyhow!("plot: {e}"))?;
        }
        root.present().map_err(|e| anyhow!("plot: {e}"))?;
    }
    Ok(svg)
}

/// A ROC curve with the chance diagonal.
pub fn roc_chart(title: &str, curve: &[(f64, f64)], auc: f64) -> Result<String> {
    line_chart(
        title,
        "false positive rate",
        "true positive rate",
        &[
            Series::new(format!("ROC (AUC {auc:.3})"), curve.to_vec()),
            Series::new("chance", vec![(0.0, 0.0), (1.0, 1.0)]),
        ],
    )
}

/// Classes a confusion chart shows one by one; past this the classes with
/// the fewest true rows are summed into one `other` row and column (1,000
/// classes drew a 480 MB report).
pub const MAX_CHART_CLASSES: usize = 20;

/// The matrix with all but the `keep - 1` classes of most true rows summed
/// into a last class `other (N)`; unchanged when it has at most `keep`.
fn fold_small_classes(
    classes: &[String],
    matrix: &[Vec<usize>],
    keep: usize,
) -> (Vec<String>, Vec<Vec<usize>>) {
    if classes.len() <= keep {
        return (classes.to_vec(), matrix.to_vec());
    }
    let mut by_size: Vec<usize> = (0..classes.len()).collect();
    by_size.sort_by_key(|&c| std::cmp::Reverse(matrix[c].iter().sum::<usize>()));
    let mut slot = vec![keep - 1; classes.len()];
    for (i, &c) in by_size.iter().take(keep - 1).enumerate() {
        slot[c] = i;
    }
    let mut folded = vec![vec![0; keep]; keep];
    for (t, row) in matrix.iter().enumerate() {
        for (p, &count) in row.iter().enumerate() {
            folded[slot[t]][slot[p]] += count;
        }
    }
    let mut names: Vec<String> = by_size[..keep - 1]
        .iter()
        .map(|&c| classes[c].clone())
        .collect();
    names.push(format!("other ({})", classes.len() - (keep - 1)));
    (names, folded)
}

/// A confusion matrix as a shaded grid with counts; rows are the truth. At
/// most [`MAX_CHART_CLASSES`] rows and columns (see [`fold_small_classes`]).
pub fn confusion_chart(title: &str, classes: &[String], matrix: &[Vec<usize>]) -> Result<String> {
    let (classes, matrix) = fold_small_classes(classes, matrix, MAX_CHART_CLASSES);
    let k = classes.len();
    let cell = (300 / k.max(1)).clamp(36, 120) as i32;
    let left = 110;
    let top = 56;
    let width = (left + cell * k as i32 + 24) as u32;
    let height = (top + cell * k as i32 + 40) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
        let style = |size: u32| ("sans-serif", size).into_font().color(&BLACK);
        let draw = |e: Result<(), DrawingAreaErrorKind<std::io::Error>>| {
            e.map_err(|e| anyhow!("plot: {e}"))
        };
        draw(root.draw(&Text::new(title.to_string(), (8, 6), style(18))))?;
        draw(root.draw(&Text::new(
            "predicted →   (rows: true class)".to_string(),
            (left, 28),
            style(13),
        )))?;
        for t in 0..k {
            let row_total: usize = matrix[t].iter().sum();
            let y = top + cell * t as i32;
            draw(root.draw(&Text::new(
                truncate(&classes[t], 12),
                (6, y + cell / 2 - 6),
                style(13),
            )))?;
            for (p, &count) in matrix[t].iter().enumerate().take(k) {
                let x = left + cell * p as i32;
                let share = count as f64 / row_total.max(1) as f64;
                let shade = (255.0 - 200.0 * share) as u8;
                let color = RGBColor(shade, shade, 255);
                draw(root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    color.filled(),
                )))?;
                draw(root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    BLACK.stroke_width(1),
                )))?;
                draw(root.draw(&Text::new(
                    count.to_string(),
                    (x + 6, y + cell / 2 - 6),
                    style(14),
                )))?;
            }
        }
        for (p, class) in classes.iter().enumerate().take(k) {
            let x = left + cell * p as i32;
            let y = top + cell * k as i32 + 6;
            draw(root.draw(&Text::new(truncate(class, 10), (x + 2, y), style(12))))?;
        }
        root.present().map_err(|e| anyhow!("plot: {e}"))?;
    }
    Ok(svg)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(std::iter::once('…')).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_of_rates_stay_within_zero_and_one() {
        // Issue 14: one learning-curve point at 0.9 drew an axis to 1.4.
        assert_eq!(span([0.9].into_iter()), (0.4, 1.0));
        let (low, high) = span([0.2, 1.0].into_iter());
        assert!(low > 0.15 && low < 0.2 && high == 1.0, "{low} {high}");
        // Other values keep their padding on both sides.
        assert_eq!(span([2.0].into_iter()), (1.5, 2.5));
        assert_eq!(span([-1.0, 1.0].into_iter()), (-1.1, 1.1));
    }

    #[test]
    fn charts_are_svg_with_their_labels() {
        let svg = line_chart(
            "loss",
            "epoch",
            "loss",
            &[Series::new("train", vec![(1.0, 0.9), (2.0, 0.5)])],
        )
        .unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("epoch"),
            "{}",
            &svg[..200.min(svg.len())]
        );
        let cm = confusion_chart(
            "cm",
            &["day".into(), "night".into()],
            &[vec![5, 1], vec![0, 4]],
        )
        .unwrap();
        assert!(cm.contains("night") && cm.contains("\n5\n"), "{cm}");
    }

    /// Many classes: the largest keep their own row, the rest are summed,
    /// and no count is lost; the chart stays small.
    #[test]
    fn confusion_charts_fold_small_classes() {
        let classes: Vec<String> = (0..5).map(|c| format!("c{c}")).collect();
        // True rows per class: 1, 9, 2, 7, 3.
        let matrix = vec![
            vec![1, 0, 0, 0, 0],
            vec![0, 8, 1, 0, 0],
            vec![0, 0, 2, 0, 0],
            vec![0, 0, 0, 6, 1],
            vec![0, 0, 0, 0, 3],
        ];
        let (names, folded) = fold_small_classes(&classes, &matrix, 3);
        assert_eq!(names, ["c1", "c3", "other (3)"]);
        assert_eq!(folded, vec![vec![8, 0, 1], vec![0, 6, 1], vec![0, 0, 6]]);
        let many: Vec<String> = (0..1000).map(|c| format!("class {c}")).collect();
        let diagonal: Vec<Vec<usize>> = (0..1000)
            .map(|t| (0..1000).map(|p| usize::from(t == p)).collect())
            .collect();
        let svg = confusion_chart("many", &many, &diagonal).unwrap();
        assert!(
            svg.len() < 200_000 && svg.contains("other (981)"),
            "{}",
            svg.len()
        );
    }
}
