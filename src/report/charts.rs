//! The report's charts, drawn by plotters' SVG backend and inlined in report.html:
//! the latency distribution of each investigation stage with its percentiles and the
//! profile's bound, and the trends of the profile's runs (history.jsonl).

use plotters::prelude::*;

use super::HistoryEntry;
use crate::spec::metrics::Summary;

const WIDTH: u32 = 380;
const HEIGHT: u32 = 230;
const BINS: usize = 24;
const FONT: &str = "sans-serif";

/// The colours of the percentile markers, shared with the page's legend text.
const P50: RGBColor = RGBColor(0x2e, 0x7d, 0x32);
const P95: RGBColor = RGBColor(0xef, 0x8f, 0x00);
const P99: RGBColor = RGBColor(0xc6, 0x28, 0x28);
const BOUND: RGBColor = RGBColor(0x21, 0x21, 0x21);
const BARS: RGBColor = RGBColor(0x5c, 0x8d, 0xd6);

/// A bound drawn on a stage's chart: the profile key and its value.
pub struct Bound<'a> {
    pub key: &'a str,
    pub ms: f64,
}

/// How a chart failed to draw (never fails the report: the page says so instead).
fn drawing_error<E: std::fmt::Debug>(e: E) -> String {
    format!("the chart could not be drawn: {e:?}")
}

/// Number formatting shared by the labels and the page (12.3, 0, 1500).
pub fn ms(v: f64) -> String {
    format!("{v}")
}

/// Histogram of one stage's samples (ms) with p50/p95/p99 and the bound marked. The
/// percentiles are those of `summary` (metrics.json), not recomputed.
pub fn stage_distribution(
    title: &str,
    samples: &[f64],
    summary: &Summary,
    bound: Option<&Bound>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing_error)?;
        let top = samples
            .iter()
            .copied()
            .fold(summary.max_ms, f64::max)
            .max(summary.p99_ms);
        let mut x_max = (top * 1.15).max(1.0);
        // A bound within reach is drawn to scale; one far above the samples is named
        // at the right edge, so the distribution stays readable.
        let bound_on_scale = bound.filter(|b| b.ms <= x_max * 3.0);
        if let Some(b) = bound_on_scale {
            x_max = x_max.max(b.ms * 1.08);
        }
        let width = x_max / BINS as f64;
        let mut bins = [0u32; BINS];
        for s in samples {
            let i = ((s / width) as usize).min(BINS - 1);
            bins[i] += 1;
        }
        let y_max = bins.iter().copied().max().unwrap_or(0).max(1) + 1;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 15))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(36)
            .build_cartesian_2d(0f64..x_max, 0u32..y_max)
            .map_err(drawing_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc("samples")
            .x_desc("ms")
            .x_labels(6)
            .y_labels(5)
            .label_style((FONT, 11))
            .draw()
            .map_err(drawing_error)?;
        chart
            .draw_series(
                bins.iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(i, c)| {
                        let x0 = i as f64 * width;
                        Rectangle::new([(x0, 0), (x0 + width * 0.92, *c)], BARS.filled())
                    }),
            )
            .map_err(drawing_error)?;
        let mut markers = vec![
            (
                format!("p50 = {} ms", ms(summary.p50_ms)),
                summary.p50_ms,
                P50,
            ),
            (
                format!("p95 = {} ms", ms(summary.p95_ms)),
                summary.p95_ms,
                P95,
            ),
            (
                format!("p99 = {} ms", ms(summary.p99_ms)),
                summary.p99_ms,
                P99,
            ),
        ];
        if let Some(b) = bound_on_scale {
            markers.push((format!("{} = {} ms", b.key, ms(b.ms)), b.ms, BOUND));
        }
        for (label, x, color) in markers {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, 0), (x, y_max)],
                    color.stroke_width(2),
                )))
                .map_err(drawing_error)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2))
                });
        }
        // A bound off the right edge is named in the legend.
        if let Some(b) = bound.filter(|_| bound_on_scale.is_none()) {
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, u32)>>())
                .map_err(drawing_error)?
                .label(format!("{} = {} ms →", b.key, ms(b.ms)))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], BOUND.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(0xbb, 0xbb, 0xbb))
            .label_font((FONT, 11))
            .draw()
            .map_err(drawing_error)?;
        root.present().map_err(drawing_error)?;
    }
    Ok(svg)
}

/// One line of a trend chart: its name, colour and a value per run (None: no value).
struct Line<'a> {
    name: &'a str,
    color: RGBColor,
    values: Vec<Option<f64>>,
}

fn trend(title: &str, y_desc: &str, runs: usize, lines: &[Line]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing_error)?;
        let y_top = lines
            .iter()
            .flat_map(|l| l.values.iter().flatten().copied())
            .fold(0.0, f64::max);
        let x_max = runs.max(2) as f64 - 0.5;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 15))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(44)
            .build_cartesian_2d(-0.5f64..x_max, 0f64..(y_top * 1.15).max(1.0))
            .map_err(drawing_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("run (oldest → latest)")
            .y_desc(y_desc)
            .x_labels(runs.clamp(2, 10))
            .x_label_formatter(&|x| format!("{}", x.round() as i64 + 1))
            .label_style((FONT, 11))
            .draw()
            .map_err(drawing_error)?;
        for line in lines {
            let points: Vec<(f64, f64)> = line
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (i as f64, v)))
                .collect();
            let color = line.color;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    points.clone(),
                    color.stroke_width(2),
                )))
                .map_err(drawing_error)?
                .label(line.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.filled())),
                )
                .map_err(drawing_error)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(0xbb, 0xbb, 0xbb))
            .label_font((FONT, 11))
            .draw()
            .map_err(drawing_error)?;
        root.present().map_err(drawing_error)?;
    }
    Ok(svg)
}

/// Pass, failure and known-failure counts over the profile's runs.
pub fn counts_trend(history: &[HistoryEntry]) -> Result<String, String> {
    let count = |k: &'static str| -> Vec<Option<f64>> {
        history
            .iter()
            .map(|h| Some(h.counts.get(k).copied().unwrap_or(0) as f64))
            .collect()
    };
    trend(
        "Scenarios per run",
        "scenarios",
        history.len(),
        &[
            Line {
                name: "passed",
                color: P50,
                values: count("passed"),
            },
            Line {
                name: "failed",
                color: P99,
                values: count("failed"),
            },
            Line {
                name: "known failures",
                color: P95,
                values: count("known-failure"),
            },
        ],
    )
}

/// p99 of each measure over the profile's runs.
pub fn p99_trend(history: &[HistoryEntry], kinds: &[(&str, &str)]) -> Result<String, String> {
    let palette = [P99, BARS, P50, P95, BOUND];
    let lines: Vec<Line> = kinds
        .iter()
        .zip(palette.iter().cycle())
        .map(|((kind, name), color)| Line {
            name,
            color: *color,
            values: history
                .iter()
                .map(|h| h.latency.get(*kind).map(|s| s.p99_ms))
                .collect(),
        })
        .filter(|l| l.values.iter().any(Option::is_some))
        .collect();
    trend("p99 latency per run", "ms", history.len(), &lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn summary(p50: f64, p95: f64, p99: f64) -> Summary {
        Summary {
            count: 4,
            p50_ms: p50,
            p95_ms: p95,
            p99_ms: p99,
            max_ms: p99,
        }
    }

    #[test]
    fn a_stage_chart_marks_its_percentiles_and_bound() {
        let s = summary(10.0, 20.5, 30.0);
        let near = Bound {
            key: "thresholds.configure_p99",
            ms: 50.0,
        };
        let svg = stage_distribution("configure", &[5.0, 10.0, 20.5, 30.0], &s, Some(&near))
            .expect("svg");
        assert!(svg.starts_with("<svg"), "{svg}");
        for label in [
            "p50 = 10 ms",
            "p95 = 20.5 ms",
            "p99 = 30 ms",
            "thresholds.configure_p99 = 50 ms",
        ] {
            assert!(svg.contains(label), "{label} in the chart");
        }
        let far = Bound {
            key: "thresholds.configure_p99",
            ms: 1000.0,
        };
        let svg = stage_distribution("configure", &[5.0], &s, Some(&far)).expect("svg");
        assert!(svg.contains("thresholds.configure_p99 = 1000 ms →"));
    }

    #[test]
    fn trends_draw_one_line_per_measure_seen() {
        let history: Vec<HistoryEntry> = (0..3)
            .map(|i| HistoryEntry {
                run_id: format!("r{i}"),
                profile: "p".into(),
                started: String::new(),
                counts: BTreeMap::from([("passed".to_string(), 10 + i)]),
                latency: BTreeMap::from([(
                    "configure".to_string(),
                    summary(1.0, 2.0, 3.0 + i as f64),
                )]),
                known_failures: vec![],
            })
            .collect();
        let svg = p99_trend(
            &history,
            &[("configure", "POST /configure"), ("pod_start", "x")],
        )
        .expect("svg");
        assert!(
            svg.contains("POST /configure") && !svg.contains(">x<"),
            "{svg}"
        );
        let svg = counts_trend(&history).expect("svg");
        assert!(svg.contains("passed") && svg.contains("known failures"));
    }
}
