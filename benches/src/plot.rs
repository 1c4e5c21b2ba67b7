//! The plot `mp` writes: contended throughput against process count, one line per lock.

use std::path::Path;

use plotters::prelude::*;

/// One line of the plot: a lock's name and its (processes, Mops/s) points.
pub type Series = (String, Vec<(usize, f64)>);

/// Writes `series` as an SVG chart at `path`, both axes logarithmic.
///
/// # Errors
///
/// Drawing or writing the file failed.
pub fn throughput_svg(series: &[Series], title: &str, path: &Path) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let points = || series.iter().flat_map(|(_, pts)| pts.iter());
    let max_p = points().map(|&(p, _)| p).max().unwrap_or(2).max(2) as f64;
    let max_y = points().map(|&(_, y)| y).fold(1.0, f64::max) * 1.5;
    let min_y = points()
        .map(|&(_, y)| y)
        .filter(|&y| y > 0.0)
        .fold(max_y, f64::min)
        / 1.5;
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d((1f64..max_p * 1.1).log_scale(), (min_y..max_y).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("processes P (log scale)")
        .y_desc("Mops/s (log scale)")
        .draw()
        .map_err(|e| err(&e))?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|&(p, y)| (p as f64, y)),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(
                pts.iter()
                    .map(|&(p, y)| Circle::new((p as f64, y), 3, color.filled())),
            )
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerLeft)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}
