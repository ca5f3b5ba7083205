//! Plots for run reports, drawn by `plotters` into SVG strings so the HTML
//! report stays one self-contained file.

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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
        // At least MIN_RATE_SPAN tall, so that accuracies of 97 and 98 %
        // do not look a chart apart (the resolution study's plot did).
        let (low, high) = if high - low < MIN_RATE_SPAN {
            let middle = (lo + hi) / 2.0;
            let low = (middle - MIN_RATE_SPAN / 2.0).clamp(0.0, 1.0 - MIN_RATE_SPAN);
            (low, low + MIN_RATE_SPAN)
        } else {
            (low, high)
        };
        (low.max(0.0), high.min(1.0))
    } else {
        (low, high)
    }
}

/// The shortest axis a chart of rates (values in [0, 1]) gets.
const MIN_RATE_SPAN: f64 = 0.2;

/// Type sizes: the caption, axis names and tick labels (plotters' defaults
/// of 12 px read small in a report).
const CAPTION: u32 = 20;
const AXIS_NAME: u32 = 16;
const TICK: u32 = 14;

/// Whether every x is a whole number (epochs, steps): then ticks between
/// them are not labelled.
fn whole_xs(series: &[Series]) -> bool {
    series
        .iter()
        .flat_map(|s| &s.points)
        .all(|p| p.0.fract() == 0.0)
}

/// A tick label: the value, or nothing between whole numbers when `whole`.
fn tick(value: f64, whole: bool) -> String {
    if !whole {
        return short(value);
    }
    if (value - value.round()).abs() < 1e-9 {
        format!("{}", value.round())
    } else {
        String::new()
    }
}

/// `value` with at most 4 decimals and no trailing zeros (0.30000000000000004
/// as 0.3).
fn short(value: f64) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// The corner of the plot where the legend covers the fewest points: the
/// quarter of the plot (of `xs` × `ys`) holding the fewest.
fn emptiest_corner(series: &[Series], xs: (f64, f64), ys: (f64, f64)) -> SeriesLabelPosition {
    let mid = ((xs.0 + xs.1) / 2.0, (ys.0 + ys.1) / 2.0);
    let mut counts = [0usize; 4];
    for p in series.iter().flat_map(|s| &s.points) {
        counts[usize::from(p.0 >= mid.0) + 2 * usize::from(p.1 < mid.1)] += 1;
    }
    let corners = [
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::LowerLeft,
        SeriesLabelPosition::LowerRight,
    ];
    // Ties go to the upper right, where a legend is looked for first.
    let order = [1, 0, 3, 2];
    let best = order
        .into_iter()
        .min_by_key(|&i| counts[i])
        .expect("four corners");
    corners[best].clone()
}

/// A line chart with markers and a legend.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<String> {
    let xs = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let ys = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let whole = whole_xs(series);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", CAPTION))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)
            .map_err(|e| anyhow!("plot: {e}"))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .axis_desc_style(("sans-serif", AXIS_NAME))
            .label_style(("sans-serif", TICK))
            .x_label_formatter(&|v| tick(*v, whole))
            .y_label_formatter(&|v| short(*v))
            .light_line_style(WHITE)
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(|e| anyhow!("plot: {e}"))?;
        draw_series(&mut chart, series, emptiest_corner(series, xs, ys))?;
        root.present().map_err(|e| anyhow!("plot: {e}"))?;
    }
    Ok(svg)
}

/// The series of a chart, with markers on short ones, and their legend at
/// `legend` when there are several.
fn draw_series<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    series: &[Series],
    legend: SeriesLabelPosition,
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    {
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
                .position(legend)
                .label_font(("sans-serif", TICK))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| anyhow!("plot: {e}"))?;
        }
    }
    Ok(())
}

/// The false accepts per hour a DET chart's axis shows, on a log scale.
pub const DET_FA_PER_HOUR: (f64, f64) = (0.1, 1000.0);

/// A DET chart: false-reject rate (%) against false accepts per hour on a
/// log axis from 0.1 to 1,000, where wake-word targets (0.5 an hour) and
/// failures (hundreds) both read. Points outside it are drawn at its edge
/// (no false accept at all: at 0.1), as the caption says. Titles should be
/// short: the caption has room for ~50 characters.
pub fn det_chart(title: &str, series: &[Series]) -> Result<String> {
    let (low, high) = DET_FA_PER_HOUR;
    let outside = series
        .iter()
        .flat_map(|s| &s.points)
        .any(|p| p.0 < low || p.0 > high);
    let clamped: Vec<Series> = series
        .iter()
        .map(|s| {
            let points = s
                .points
                .iter()
                .map(|p| (p.0.clamp(low, high), p.1))
                .collect();
            Series::new(s.name.clone(), points)
        })
        .collect();
    let ys = (0.0, 100.0);
    let caption = if outside {
        format!("{title} (beyond the axis: at its edge)")
    } else {
        title.to_string()
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", CAPTION))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d((low..high).log_scale(), ys.0..ys.1)
            .map_err(|e| anyhow!("plot: {e}"))?;
        chart
            .configure_mesh()
            .x_desc("false accepts per hour (log scale)")
            .y_desc("false-reject rate (%)")
            .axis_desc_style(("sans-serif", AXIS_NAME))
            .label_style(("sans-serif", TICK))
            .x_label_formatter(&|v| short(*v))
            .y_label_formatter(&|v| short(*v))
            .light_line_style(WHITE)
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(|e| anyhow!("plot: {e}"))?;
        let log_xs = (low.log10(), high.log10());
        let logged: Vec<Series> = clamped
            .iter()
            .map(|s| {
                let points = s.points.iter().map(|p| (p.0.log10(), p.1)).collect();
                Series::new(s.name.clone(), points)
            })
            .collect();
        let legend = emptiest_corner(&logged, log_xs, ys);
        draw_series(&mut chart, &clamped, legend)?;
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

/// A confusion matrix as a shaded grid with counts and each count's share
/// of its row (the class's recall on the diagonal); rows are the truth. At
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
            "predicted →   (rows: true class; % of the row)".to_string(),
            (left, 28),
            style(13),
        )))?;
        for t in 0..k {
            let row_total: usize = matrix[t].iter().sum();
            let y = top + cell * t as i32;
            draw(root.draw(&Text::new(
                truncate(&classes[t], 12),
                (6, y + cell / 2),
                style(14).pos(Pos::new(HPos::Left, VPos::Center)),
            )))?;
            for (p, &count) in matrix[t].iter().enumerate().take(k) {
                let x = left + cell * p as i32;
                let share = count as f64 / row_total.max(1) as f64;
                let shade = (255.0 - 215.0 * share) as u8;
                let color = RGBColor(shade, shade, 255);
                draw(root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    color.filled(),
                )))?;
                draw(root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    BLACK.stroke_width(1),
                )))?;
                // The count in the middle, the row's share under it; white
                // on the darker cells, where black would not be read.
                let ink = if share > 0.5 { WHITE } else { BLACK };
                let centred = |size: u32| {
                    ("sans-serif", size)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center))
                };
                let (middle, shown_share) = (x + cell / 2, cell >= 44);
                let count_y = if shown_share {
                    y + cell / 2 - 8
                } else {
                    y + cell / 2
                };
                draw(root.draw(&Text::new(
                    count.to_string(),
                    (middle, count_y),
                    centred(15),
                )))?;
                if shown_share {
                    draw(root.draw(&Text::new(
                        format!("{:.0} %", 100.0 * share),
                        (middle, y + cell / 2 + 10),
                        centred(11),
                    )))?;
                }
            }
        }
        for (p, class) in classes.iter().enumerate().take(k) {
            let x = left + cell * p as i32;
            let y = top + cell * k as i32 + 6;
            let centred = style(13).pos(Pos::new(HPos::Center, VPos::Top));
            draw(root.draw(&Text::new(truncate(class, 10), (x + cell / 2, y), centred)))?;
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
        // Close rates do not fill the chart: 0.97 and 0.98 on 0.8–1.
        let (low, high) = span([0.97, 0.98].into_iter());
        assert!((low - 0.8).abs() < 1e-12 && high == 1.0, "{low} {high}");
        let (low, high) = span([0.5, 0.52].into_iter());
        assert!((low - 0.41).abs() < 1e-12 && (high - 0.61).abs() < 1e-12);
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

    /// Epochs and steps are labelled as whole numbers only; the legend goes
    /// where the points are not; the confusion chart gives row shares.
    #[test]
    fn charts_label_whole_steps_and_keep_legends_off_the_curves() {
        assert_eq!(
            (tick(2.0, true), tick(2.5, true)),
            ("2".into(), String::new())
        );
        assert_eq!(tick(2.5, false), "2.5");
        assert_eq!(
            (short(0.1 + 0.2), short(1000.0), short(-0.0)),
            ("0.3".into(), "1000".into(), "0".into())
        );
        let rising = Series::new(
            "accuracy",
            vec![(0.0, 0.0), (1.0, 0.6), (2.0, 0.9), (3.0, 0.95)],
        );
        // A rising curve leaves the lower right empty.
        let corner = emptiest_corner(&[rising], (0.0, 3.0), (0.0, 1.0));
        assert!(
            matches!(corner, SeriesLabelPosition::LowerRight),
            "{corner:?}"
        );
        // Points everywhere: the upper right, where legends are looked for.
        let spread = Series::new("s", vec![(0.0, 0.0), (0.0, 1.0), (3.0, 0.0), (3.0, 1.0)]);
        let corner = emptiest_corner(&[spread], (0.0, 3.0), (0.0, 1.0));
        assert!(
            matches!(corner, SeriesLabelPosition::UpperRight),
            "{corner:?}"
        );
        let cm = confusion_chart(
            "cm",
            &["day".into(), "night".into()],
            &[vec![5, 1], vec![0, 4]],
        )
        .unwrap();
        assert!(cm.contains("83 %") && cm.contains("100 %"), "{cm}");
    }

    /// DET charts run on a log axis of 0.1–1000 false accepts per hour, and
    /// say when a point lies beyond it.
    #[test]
    fn det_charts_use_a_log_axis_and_name_clamped_points() {
        let inside = Series::new("model", vec![(0.5, 30.0), (40.0, 5.0)]);
        let svg = det_chart("DET", &[inside]).unwrap();
        assert!(svg.contains("log scale") && !svg.contains("at its edge"));
        let silent = Series::new("model", vec![(0.0, 60.0), (40.0, 5.0)]);
        assert!(det_chart("DET", &[silent]).unwrap().contains("at its edge"));
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
