//! Draw the curves of `vmfuzz fuzz --stats` files as one SVG: edges covered and corpus size
//! against time, one line per file (docs/bench.md, "Coverage-guided campaign").
//!
//! ```sh
//! cargo run -q -p vmfuzz-cli --example coverage_plot -- -o docs/campaign-coverage.svg \
//!     "coverage on=target/bench-cov/on.csv" "coverage off=target/bench-cov/off.csv"
//! ```
//!
//! Each argument is `LABEL=FILE`; a file is the CSV `vmfuzz fuzz --stats` writes (a header,
//! then `elapsed_s,inputs,ops,corpus,edges,behaviours`). `--mark SECONDS=TEXT` draws a dashed
//! vertical line (a finding, a restart). The SVG is written by hand: no plotting dependency for
//! line charts.

use std::fmt::Write as _;
use std::process::ExitCode;

/// One series: its label and its samples (seconds, edges, corpus).
struct Series {
    label: String,
    points: Vec<(f64, f64, f64)>,
}

fn read(label: &str, path: &str) -> Result<Series, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut points = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let num = |i: usize| -> Result<f64, String> {
            f.get(i)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{path}:{}: field {i} is not a number: {line}", n + 1))
        };
        points.push((num(0)?, num(4)?, num(3)?));
    }
    if points.is_empty() {
        return Err(format!("{path}: no samples"));
    }
    Ok(Series {
        label: label.to_string(),
        points,
    })
}

/// A "nice" step for about `n` ticks over `span`.
fn step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm < 1.5 {
        1.0
    } else if norm < 3.0 {
        2.0
    } else if norm < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
const WIDTH: f64 = 1000.0;
const PANEL: f64 = 330.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 300.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// One panel: `value` picks the y of a sample; the panel's top is at `y0`. The y axis starts at
/// the lowest value at `from_s` seconds (lower ones are drawn on the axis).
#[allow(clippy::too_many_arguments)]
fn panel(
    svg: &mut String,
    series: &[Series],
    marks: &[(f64, String)],
    y0: f64,
    title: &str,
    from_s: f64,
    value: fn(&(f64, f64, f64)) -> f64,
) {
    let t_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0f64, f64::max)
        / 60.0;
    // The axis starts at the lowest value any series has at `from_s` (a restart's replay dips
    // below it and is drawn on the axis).
    let v_min = series
        .iter()
        .filter_map(|s| s.points.iter().find(|p| p.0 >= from_s).map(value))
        .fold(f64::INFINITY, f64::min);
    let v_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(value))
        .fold(f64::NEG_INFINITY, f64::max);
    let y_step = step((v_max - v_min).max(1.0), 6.0);
    let lo = (v_min / y_step).floor() * y_step;
    let hi = ((v_max / y_step).ceil() * y_step).max(lo + y_step);
    let (x0, x1) = (LEFT, WIDTH - RIGHT);
    let (top, bottom) = (y0 + TOP, y0 + PANEL - BOTTOM);
    let x = |t: f64| x0 + (t / t_max) * (x1 - x0);
    let y = |v: f64| bottom - (v.max(lo) - lo) / (hi - lo) * (bottom - top);
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="15" font-weight="bold">{title}</text>"#,
        x0,
        y0 + 24.0
    );
    let x_step = step(t_max, 10.0);
    let mut t = 0.0;
    while t <= t_max + 1e-9 {
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" y1="{top:.1}" x2="{0:.1}" y2="{bottom:.1}" stroke="#ddd"/><text x="{0:.1}" y="{1:.1}" font-size="12" text-anchor="middle">{t}</text>"##,
            x(t),
            bottom + 16.0
        );
        t += x_step;
    }
    let mut v = lo;
    while v <= hi + 1e-9 {
        let _ = writeln!(
            svg,
            r##"<line x1="{x0:.1}" y1="{0:.1}" x2="{x1:.1}" y2="{0:.1}" stroke="#ddd"/><text x="{1:.1}" y="{2:.1}" font-size="12" text-anchor="end">{v}</text>"##,
            y(v),
            x0 - 6.0,
            y(v) + 4.0
        );
        v += y_step;
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{x0:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#444"/><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">minutes</text>"##,
        x1 - x0,
        bottom - top,
        (x0 + x1) / 2.0,
        bottom + 36.0
    );
    for (k, (at, text)) in marks.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" y1="{top:.1}" x2="{0:.1}" y2="{bottom:.1}" stroke="#888" stroke-dasharray="4 3"/><text x="{1:.1}" y="{2:.1}" font-size="10" fill="#555">{text}</text>"##,
            x(at / 60.0),
            x(at / 60.0) + 3.0,
            bottom - 6.0 - 12.0 * k as f64
        );
    }
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.0 / 60.0), y(value(p))))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let ly = top + 18.0 + 22.0 * i as f64;
        let last = s.points.last().map(value).unwrap_or(0.0);
        let _ = writeln!(
            svg,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2"/><text x="{:.1}" y="{:.1}" font-size="12">{} ({last})</text>"#,
            x1 + 12.0,
            x1 + 32.0,
            x1 + 38.0,
            ly + 4.0,
            s.label
        );
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut out = None;
    let mut series = Vec::new();
    let mut marks = Vec::new();
    while let Some(a) = args.next() {
        if a == "-o" {
            out = args.next();
            continue;
        }
        if a == "--mark" {
            let mark = args.next().unwrap_or_default();
            match mark.split_once('=').map(|(t, x)| (t.parse::<f64>(), x)) {
                Some((Ok(t), text)) => marks.push((t, text.to_string())),
                _ => {
                    eprintln!("coverage_plot: --mark takes SECONDS=TEXT, got {mark}");
                    return ExitCode::from(2);
                }
            }
            continue;
        }
        let Some((label, path)) = a.split_once('=') else {
            eprintln!("coverage_plot: expected LABEL=FILE, got {a}");
            return ExitCode::from(2);
        };
        match read(label, path) {
            Ok(s) => series.push(s),
            Err(e) => {
                eprintln!("coverage_plot: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(out), false) = (out, series.is_empty()) else {
        eprintln!("usage: coverage_plot -o OUT.svg LABEL=STATS.csv...");
        return ExitCode::from(2);
    };
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"#,
        3.0 * PANEL
    );
    panel(
        &mut svg,
        &series,
        &marks,
        0.0,
        "Edges covered (engine + model)",
        0.0,
        |p| p.1,
    );
    panel(
        &mut svg,
        &series,
        &marks,
        PANEL,
        "Edges covered, zoomed: the axis starts at the 1-minute values (restarts dip below it)",
        60.0,
        |p| p.1,
    );
    panel(
        &mut svg,
        &series,
        &marks,
        2.0 * PANEL,
        "Corpus size (inputs)",
        0.0,
        |p| p.2,
    );
    svg.push_str("</svg>\n");
    if let Err(e) = std::fs::write(&out, svg) {
        eprintln!("coverage_plot: {out}: {e}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
