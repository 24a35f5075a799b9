//! The overview's charts, drawn on the server as SVG by `plotters` (its
//! SVG backend): readable without JavaScript, and each page shows the same
//! numbers as a table beside its chart (the text alternative).

use plotters::prelude::*;

const SIZE: (u32, u32) = (640, 260);
const ACCENT: RGBColor = RGBColor(29, 78, 216);
const MUTED: RGBColor = RGBColor(82, 82, 91);

/// Strips the XML declaration so the SVG can sit inside HTML, and makes it
/// scale to its container (the viewBox keeps the drawing's proportions).
fn inline(svg: String) -> String {
    let svg = match svg.find("<svg") {
        Some(i) => svg[i..].to_owned(),
        None => svg,
    };
    // plotters writes the viewBox itself; the caption and the table say
    // what the drawing shows, so screen readers skip the drawing.
    svg.replacen(
        &format!("width=\"{}\" height=\"{}\"", SIZE.0, SIZE.1),
        "width=\"100%\" preserveAspectRatio=\"xMidYMid meet\" aria-hidden=\"true\" focusable=\"false\"",
        1,
    )
}

/// A line of rates (0 to 1) over labelled points; `None` is a gap (a
/// bucket with no case has no rate).
pub fn rate_line(labels: &[String], rates: &[Option<f64>]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let _ = root.fill(&WHITE);
        let n = labels.len().max(1);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d(0..n.saturating_sub(1).max(1), 0f64..1f64)
        else {
            return String::new();
        };
        let _ = chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .y_labels(5)
            .x_labels(6.min(n))
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .x_label_formatter(&|i| labels.get(*i).map(|l| short(l)).unwrap_or_default())
            .label_style(("sans-serif", 15).into_font().color(&MUTED))
            .draw();
        // Consecutive points with a rate form a segment; gaps break it.
        let mut segment: Vec<(usize, f64)> = Vec::new();
        let mut segments = Vec::new();
        for (i, r) in rates.iter().enumerate() {
            match r {
                Some(r) => segment.push((i, *r)),
                None if !segment.is_empty() => segments.push(std::mem::take(&mut segment)),
                None => {}
            }
        }
        if !segment.is_empty() {
            segments.push(segment);
        }
        for s in segments {
            let _ = chart.draw_series(LineSeries::new(s.clone(), ACCENT.stroke_width(2)));
            let _ = chart.draw_series(s.into_iter().map(|p| Circle::new(p, 3, ACCENT.filled())));
        }
        let _ = root.present();
    }
    inline(svg)
}

/// Bars with labels under them.
pub fn bars(labels: &[String], values: &[f64], format: &dyn Fn(f64) -> String) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let _ = root.fill(&WHITE);
        let max = values.iter().copied().fold(0f64, f64::max).max(1.0) * 1.1;
        let n = labels.len().max(2) as i32;
        let Ok(mut chart) = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..max)
        else {
            return String::new();
        };
        let _ = chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .y_labels(5)
            .y_label_formatter(&|v| format(*v))
            .x_label_formatter(&|seg| match seg {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    labels.get(*i as usize).cloned().unwrap_or_default()
                }
                SegmentValue::Last => String::new(),
            })
            .label_style(("sans-serif", 15).into_font().color(&MUTED))
            .draw();
        let _ = chart.draw_series(values.iter().enumerate().map(|(i, v)| {
            let i = i as i32;
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), *v),
                ],
                ACCENT.filled(),
            );
            bar.set_margin(0, 0, 8, 8);
            bar
        }));
        let _ = root.present();
    }
    inline(svg)
}

/// Line colours for several series, told apart by more than hue: the
/// legend and the table name them too.
const SERIES: [RGBColor; 4] = [
    ACCENT,
    RGBColor(180, 83, 9),
    RGBColor(21, 128, 61),
    RGBColor(82, 82, 91),
];

/// The CSS colour of series `i` (for the legend beside a chart).
pub fn series_color(i: usize) -> String {
    let c = SERIES[i % SERIES.len()];
    format!("rgb({},{},{})", c.0, c.1, c.2)
}

/// Step curves of shares (0 to 1) over days 0 to `max_day`, one per
/// series: a Kaplan-Meier curve stays flat until its next step.
pub fn curves(series: &[(String, Vec<(u32, f64)>)], max_day: u32) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let _ = root.fill(&WHITE);
        let top = series
            .iter()
            .flat_map(|(_, s)| s.iter().map(|p| p.1))
            .fold(0f64, f64::max);
        // Room above the highest curve, in steps of 10 %.
        let top = ((top * 10.0).ceil() / 10.0 + 0.1).min(1.0);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..f64::from(max_day.max(1)), 0f64..top)
        else {
            return String::new();
        };
        let _ = chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .y_labels(5)
            .x_labels(8)
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .x_label_formatter(&|d| format!("{d:.0}"))
            .label_style(("sans-serif", 15).into_font().color(&MUTED))
            .draw();
        for (i, (_, points)) in series.iter().enumerate() {
            let mut line = vec![(0f64, 0f64)];
            let mut level = 0f64;
            for (day, share) in points {
                // The step happens during the day: draw it at its end.
                let x = f64::from(day + 1).min(f64::from(max_day));
                line.push((x, level));
                level = *share;
                line.push((x, level));
            }
            line.push((f64::from(max_day), level));
            let color = SERIES[i % SERIES.len()];
            let _ = chart.draw_series(LineSeries::new(line, color.stroke_width(2)));
        }
        let _ = root.present();
    }
    inline(svg)
}

/// `2026-11-03` as `11-03` under a chart.
fn short(day: &str) -> String {
    day.get(5..).unwrap_or(day).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_inline_svg_that_scales() {
        let labels: Vec<String> = ["2026-11-01", "2026-11-02", "2026-11-03"]
            .map(String::from)
            .to_vec();
        let svg = rate_line(&labels, &[Some(0.5), None, Some(0.75)]);
        assert!(svg.starts_with("<svg"), "{}", &svg[..60.min(svg.len())]);
        assert!(svg.contains("viewBox=\"0 0 640 260\""));
        assert!(svg.contains("50%"), "y labels as percentages: {svg}");
        assert_eq!(svg.matches("viewBox").count(), 1);
        assert!(svg.contains("11-03"));
        let svg = curves(
            &[
                ("a".into(), vec![(1, 0.2), (3, 0.4)]),
                ("b".into(), vec![(2, 0.1)]),
            ],
            14,
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        // One line per series, in its own colour.
        assert_eq!(svg.matches("stroke=\"#1D4ED8\"").count(), 1, "{svg}");
        assert_eq!(svg.matches("stroke=\"#B45309\"").count(), 1, "{svg}");
        assert_eq!(series_color(1), "rgb(180,83,9)");
        let svg = bars(&labels, &[1.0, 0.0, 3.0], &|v| format!("{v:.0}"));
        assert!(svg.contains("<rect"));
        assert!(!svg.contains("<?xml"));
    }
}
