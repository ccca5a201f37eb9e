//! The detection benchmark (`vmfuzz bench detect`, design §5.9): how long the built-in
//! campaign takes to find each planted fault of the zoo (docs/zoo.md), with vmfuzz's oracles
//! and with two weaker ones on the same inputs ([`OracleMode`]: crash only, non-NULL only).
//!
//! A *trial* is one campaign: one fault, one oracle mode, one PRNG seed, one worker, a time
//! limit, no seed inputs (every trial starts from nothing, so that a committed regression
//! cannot find its own fault), following behaviours (the in-process campaign has no code
//! coverage: the same feedback for every mode, so that the oracle is the only difference). It
//! records the inputs run before the first finding, which depends only on the seed (the
//! campaign is deterministic with one worker), and the seconds, which are reported only.
//! A trial that finds nothing within the limit is a miss, and stays one in every table.
//!
//! `design §N` cites a section of `docs/design.md`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::campaign::{self, CampaignOptions};
use crate::exec::{FullChecks, OracleMode, RunOptions};
use crate::finding::FindingKind;

/// What to measure.
#[derive(Debug, Clone)]
pub struct DetectOptions {
    /// The planted faults (names), in table order.
    pub bugs: Vec<String>,
    /// The oracle modes, in column order.
    pub modes: Vec<OracleMode>,
    /// The campaigns' PRNG seeds: one trial per seed.
    pub seeds: Vec<u64>,
    /// Each trial's time limit.
    pub time: Duration,
    /// Longest generated input, in bytes.
    pub max_len: usize,
    /// Trials run at once (each is one single-worker campaign).
    pub parallel: usize,
    /// Also stop each trial after this many inputs (a deterministic bound, for tests).
    pub runs: Option<u64>,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            bugs: crate::planted::names()
                .into_iter()
                .map(str::to_string)
                .collect(),
            modes: OracleMode::ALL.to_vec(),
            seeds: (1..=5).collect(),
            time: Duration::from_secs(60),
            max_len: CampaignOptions::default().max_len,
            parallel: 1,
            runs: None,
        }
    }
}

/// The first finding of a trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Inputs run up to and including the one that found it (deterministic).
    pub inputs: u64,
    /// Seconds from the campaign's start to the finding (reported only).
    pub seconds: f64,
    /// The finding's kind.
    pub kind: FindingKind,
    /// The oracle that fired (`panic` for a panic the executor caught).
    pub oracle: String,
}

/// One campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// The planted fault.
    pub bug: String,
    /// The oracle mode.
    pub mode: OracleMode,
    /// The campaign's seed.
    pub seed: u64,
    /// Inputs run in all.
    pub inputs: u64,
    /// The first finding, or `None`: a miss within the time limit.
    pub hit: Option<Hit>,
}

/// Asked about four times a second: `true` ends the running trials early (an interrupt) and
/// starts no more. [`run`] leaves a trial cut short out of its result: it is neither a hit nor
/// a miss.
pub type StopFn<'a> = dyn Fn() -> bool + Sync + 'a;

/// Run one trial.
pub fn trial(
    bug: &str,
    mode: OracleMode,
    seed: u64,
    opts: &DetectOptions,
    stop: &StopFn<'_>,
) -> Trial {
    let copts = CampaignOptions {
        seed,
        time: Some(opts.time),
        runs: opts.runs,
        jobs: 1,
        max_len: opts.max_len,
        seeds: Vec::new(),
        run: RunOptions {
            planted: Some(bug.to_string()),
            full_checks: FullChecks::FUZZING,
            oracles: mode,
            ..RunOptions::default()
        },
        coverage: None,
        edge_feedback: false,
    };
    let start = Instant::now();
    let first: Mutex<Option<f64>> = Mutex::new(None);
    let check = |input: &crate::ops::Input, ro: &RunOptions| {
        let r = crate::check(input, ro);
        if r.is_err() {
            let mut t = first.lock().unwrap_or_else(|e| e.into_inner());
            t.get_or_insert(start.elapsed().as_secs_f64());
        }
        r
    };
    let summary = campaign::run(&copts, &check, &mut |_, _| !stop(), &|_| {});
    let seconds = first
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or(0.0);
    Trial {
        bug: bug.to_string(),
        mode,
        seed,
        inputs: summary.inputs,
        hit: summary.found.map(|f| Hit {
            inputs: f.inputs_before + 1,
            seconds,
            kind: f.finding.kind,
            oracle: match f.finding.oracle {
                "" => "panic".to_string(),
                o => o.to_string(),
            },
        }),
    }
}

/// Run every trial (`opts.parallel` at a time), calling `done` as each finishes; the result is
/// in table order (fault, mode, seed), whatever the order they finished in.
pub fn run(opts: &DetectOptions, done: &(dyn Fn(&Trial) + Sync), stop: &StopFn<'_>) -> Vec<Trial> {
    let plan: Vec<(&str, OracleMode, u64)> = opts
        .bugs
        .iter()
        .flat_map(|b| {
            opts.modes
                .iter()
                .flat_map(move |&m| opts.seeds.iter().map(move |&s| (b.as_str(), m, s)))
        })
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Trial>>> = Mutex::new(vec![None; plan.len()]);
    std::thread::scope(|scope| {
        for _ in 0..opts.parallel.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(bug, mode, seed)) = plan.get(i) else {
                    return;
                };
                if stop() {
                    return;
                }
                let t = trial(bug, mode, seed, opts, stop);
                if stop() {
                    // Cut short: neither a hit nor a miss.
                    return;
                }
                done(&t);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(t);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// One cell of the table: a fault's trials under one mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Trials that found the fault.
    pub found: usize,
    /// Trials in all.
    pub trials: usize,
    /// The median seconds to the first finding, a miss counting as longer than any hit;
    /// `None` when the median trial is a miss (found in fewer than half).
    pub median_seconds: Option<f64>,
    /// The median inputs to the first finding, on the same rule.
    pub median_inputs: Option<u64>,
    /// The oracle that fired most often (ties: the first in name order).
    pub oracle: Option<String>,
}

/// The median of `values` with `misses` values longer than all of them (the lower median of
/// an even count), or `None` if it is a miss.
fn median_with_misses<T: Copy + PartialOrd>(mut values: Vec<T>, misses: usize) -> Option<T> {
    let n = values.len() + misses;
    if n == 0 {
        return None;
    }
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values.get((n - 1) / 2).copied()
}

/// The cell of `bug` under `mode`.
pub fn cell(trials: &[Trial], bug: &str, mode: OracleMode) -> Cell {
    let mine: Vec<&Trial> = trials
        .iter()
        .filter(|t| t.bug == bug && t.mode == mode)
        .collect();
    let hits: Vec<&Hit> = mine.iter().filter_map(|t| t.hit.as_ref()).collect();
    let misses = mine.len() - hits.len();
    let mut oracles: std::collections::BTreeMap<&str, usize> = Default::default();
    for h in &hits {
        *oracles.entry(h.oracle.as_str()).or_default() += 1;
    }
    let top = oracles.values().copied().max();
    Cell {
        found: hits.len(),
        trials: mine.len(),
        median_seconds: median_with_misses(hits.iter().map(|h| h.seconds).collect(), misses),
        median_inputs: median_with_misses(hits.iter().map(|h| h.inputs).collect(), misses),
        oracle: oracles
            .iter()
            .find(|(_, &n)| Some(n) == top)
            .map(|(o, _)| o.to_string()),
    }
}

/// The faults of `trials`, in the order they first appear.
fn bugs(trials: &[Trial]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for t in trials {
        if !out.contains(&t.bug.as_str()) {
            out.push(&t.bug);
        }
    }
    out
}

/// The modes of `trials`, strongest first.
fn modes(trials: &[Trial]) -> Vec<OracleMode> {
    OracleMode::ALL
        .into_iter()
        .filter(|m| trials.iter().any(|t| t.mode == *m))
        .collect()
}

fn show_seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2}")
    } else {
        format!("{s:.0}")
    }
}

/// The table's rows: per fault, one cell per mode (`S<s_unit> I<i_unit> F/T` for a hit,
/// `<miss.0>F/T<miss.1>` for a miss) and the oracle that fired most often under the full mode.
fn rows<'a>(
    trials: &'a [Trial],
    modes: &[OracleMode],
    s_unit: &str,
    i_unit: &str,
    miss: (&str, &str),
) -> Vec<(&'a str, Vec<String>, String)> {
    bugs(trials)
        .into_iter()
        .map(|b| {
            let cells = modes
                .iter()
                .map(|m| {
                    let c = cell(trials, b, *m);
                    match (c.median_seconds, c.median_inputs) {
                        (Some(s), Some(i)) => format!(
                            "{} {s_unit} {i} {i_unit} {}/{}",
                            show_seconds(s),
                            c.found,
                            c.trials
                        ),
                        _ => format!("{}{}/{}{}", miss.0, c.found, c.trials, miss.1),
                    }
                })
                .collect();
            let full = cell(trials, b, OracleMode::Full);
            (b, cells, full.oracle.unwrap_or_else(|| "-".into()))
        })
        .collect()
}

/// The table: one row per fault, per mode the median seconds and inputs to the first finding
/// and how many trials found it (`not found` when fewer than half did), and the oracle that
/// fired most often under the full mode. Ends with a line per mode: faults found (in at least
/// half the trials) out of all.
pub fn table(trials: &[Trial]) -> String {
    let modes = modes(trials);
    let bugs = bugs(trials);
    let width = bugs.iter().map(|b| b.len()).max().unwrap_or(5).max(5);
    let mut out = format!("{:<width$}", "fault");
    for m in &modes {
        let _ = write!(out, " | {:>22}", format!("{} (s, inputs, found)", m.name()));
    }
    out.push_str(" | full: oracle\n");
    for (b, cells, oracle) in rows(trials, &modes, "s", "in", ("not found ", "")) {
        let _ = write!(out, "{b:<width$}");
        for v in cells {
            let _ = write!(out, " | {v:>22}");
        }
        let _ = writeln!(out, " | {oracle}");
    }
    for m in &modes {
        let found = bugs
            .iter()
            .filter(|b| cell(trials, b, *m).median_seconds.is_some())
            .count();
        let _ = writeln!(out, "{}: {found} of {} faults found", m.name(), bugs.len());
    }
    out
}

/// The header line of [`csv`].
const CSV_HEADER: &str = "fault,mode,seed,found,inputs,seconds,kind,oracle,inputs_run";

/// Every trial as CSV: `fault,mode,seed,found,inputs,seconds,kind,oracle,inputs_run` (a miss
/// has empty `inputs`, `seconds`, `kind` and `oracle`).
pub fn csv(trials: &[Trial]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for t in trials {
        let _ = match &t.hit {
            Some(h) => writeln!(
                out,
                "{},{},{},true,{},{:.3},{},{},{}",
                t.bug,
                t.mode.name(),
                t.seed,
                h.inputs,
                h.seconds,
                h.kind,
                h.oracle,
                t.inputs
            ),
            None => writeln!(
                out,
                "{},{},{},false,,,,,{}",
                t.bug,
                t.mode.name(),
                t.seed,
                t.inputs
            ),
        };
    }
    out
}

/// Read back what [`csv`] wrote (to draw the table and chart again without running).
pub fn parse_csv(text: &str) -> Result<Vec<Trial>, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some(CSV_HEADER) => {}
        other => return Err(format!("line 1: not a detect.csv header: {other:?}")),
    }
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let ln = n + 2;
        let f: Vec<&str> = line.split(',').collect();
        let [fault, mode, seed, found, inputs, seconds, kind, oracle, run] = f[..] else {
            return Err(format!("line {ln}: expected 9 fields: {line}"));
        };
        let num = |v: &str, what: &str| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("line {ln}: {what} is not a number: {v:?}"))
        };
        let mode = OracleMode::from_name(mode)
            .ok_or_else(|| format!("line {ln}: unknown mode {mode:?}"))?;
        let hit = match found {
            "true" => Some(Hit {
                inputs: num(inputs, "inputs")?,
                seconds: seconds
                    .parse()
                    .map_err(|_| format!("line {ln}: seconds is not a number: {seconds:?}"))?,
                kind: FindingKind::from_name(kind)
                    .ok_or_else(|| format!("line {ln}: unknown kind {kind:?}"))?,
                oracle: oracle.to_string(),
            }),
            "false" => None,
            other => return Err(format!("line {ln}: found is {other:?}, not true or false")),
        };
        out.push(Trial {
            bug: fault.to_string(),
            mode,
            seed: num(seed, "seed")?,
            inputs: num(run, "inputs_run")?,
            hit,
        });
    }
    Ok(out)
}

/// The table as Markdown: per fault and mode, the median seconds and inputs to the first
/// finding and how many trials found it, and the oracle that fired most often under the full
/// mode.
pub fn markdown(trials: &[Trial]) -> String {
    let modes = modes(trials);
    let mut out = String::from("| fault |");
    for m in &modes {
        let _ = write!(out, " {} |", m.name());
    }
    out.push_str(" oracle (full) |\n|---|");
    for _ in &modes {
        out.push_str("---|");
    }
    out.push_str("---|\n");
    for (b, cells, oracle) in rows(trials, &modes, "s,", "in.,", ("**not found** (", ")")) {
        let _ = write!(out, "| `{b}` |");
        for v in cells {
            let _ = write!(out, " {v} |");
        }
        let _ = writeln!(out, " {oracle} |");
    }
    out
}

/// A JSON string literal (the names here are plain ASCII, but quote and backslash anyway).
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The settings, every trial and every cell as JSON.
pub fn json(opts: &DetectOptions, trials: &[Trial]) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(
        out,
        "  \"settings\": {{\"seeds\": {:?}, \"time_limit_s\": {}, \"max_len\": {}, \"jobs\": 1, \"parallel\": {}}},",
        opts.seeds,
        opts.time.as_secs_f64(),
        opts.max_len,
        opts.parallel
    );
    out.push_str("  \"trials\": [\n");
    for (i, t) in trials.iter().enumerate() {
        let hit = match &t.hit {
            Some(h) => format!(
                "{{\"inputs\": {}, \"seconds\": {:.3}, \"kind\": {}, \"oracle\": {}}}",
                h.inputs,
                h.seconds,
                json_str(h.kind.name()),
                json_str(&h.oracle)
            ),
            None => "null".into(),
        };
        let _ = writeln!(
            out,
            "    {{\"fault\": {}, \"mode\": {}, \"seed\": {}, \"inputs_run\": {}, \"hit\": {hit}}}{}",
            json_str(&t.bug),
            json_str(t.mode.name()),
            t.seed,
            t.inputs,
            if i + 1 < trials.len() { "," } else { "" }
        );
    }
    out.push_str("  ],\n  \"cells\": [\n");
    let bugs = bugs(trials);
    let modes = modes(trials);
    let mut cells = Vec::new();
    for b in &bugs {
        for m in &modes {
            let c = cell(trials, b, *m);
            let opt_f = |v: Option<f64>| v.map_or("null".to_string(), |s| format!("{s:.3}"));
            let opt_u = |v: Option<u64>| v.map_or("null".to_string(), |s| s.to_string());
            cells.push(format!(
                "    {{\"fault\": {}, \"mode\": {}, \"found\": {}, \"trials\": {}, \"median_seconds\": {}, \"median_inputs\": {}, \"oracle\": {}}}",
                json_str(b),
                json_str(m.name()),
                c.found,
                c.trials,
                opt_f(c.median_seconds),
                opt_u(c.median_inputs),
                c.oracle.as_deref().map_or("null".to_string(), json_str)
            ));
        }
    }
    out.push_str(&cells.join(",\n"));
    out.push_str("\n  ]\n}\n");
    out
}

/// The colour of a mode's bars.
fn colour(m: OracleMode) -> &'static str {
    match m {
        OracleMode::Full => "#1f77b4",
        OracleMode::NonNullOnly => "#ff7f0e",
        OracleMode::CrashOnly => "#7f7f7f",
    }
}

/// The chart: per fault, one bar per mode, its length the median number of inputs to the first
/// finding on a log scale (inputs, not seconds: they are deterministic and do not depend on
/// the machine; the seconds are in the table); a fault a mode did not find in at least half
/// its trials gets a dashed bar across the plot marked "not found". `limit` is the trials'
/// time limit, for the title. Written by hand: no plotting dependency for a bar chart.
pub fn svg(trials: &[Trial], limit: Duration) -> String {
    let bugs = bugs(trials);
    let modes = modes(trials);
    let (label_w, plot_w, bar_h, gap) = (230.0, 520.0, 9.0, 7.0);
    let row_h = bar_h * modes.len() as f64 + gap;
    let top = 40.0;
    let height = top + row_h * bugs.len() as f64 + 50.0;
    let width = label_w + plot_w + 70.0;
    let most = trials.iter().map(|t| t.inputs).max().unwrap_or(1).max(10);
    let decades = (most as f64).log10().ceil() as i32;
    let (lo, hi) = (0.5_f64.log10(), f64::from(decades));
    let x = |v: f64| label_w + (v.max(0.5).log10() - lo) / (hi - lo) * plot_w;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"10\">"
    );
    let _ = writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        out,
        "<text x=\"{label_w}\" y=\"16\" font-size=\"12\">Median inputs to the first finding (log scale; each trial stops after {} s)</text>",
        limit.as_secs()
    );
    for d in 0..=decades {
        let v = 10f64.powi(d);
        let gx = x(v);
        let _ = writeln!(
            out,
            "<line x1=\"{gx:.1}\" y1=\"{}\" x2=\"{gx:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{gx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{v}</text>",
            top - 6.0,
            height - 40.0,
            height - 28.0,
        );
    }
    for (r, b) in bugs.iter().enumerate() {
        let y0 = top + r as f64 * row_h;
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{b}</text>",
            label_w - 6.0,
            y0 + bar_h * modes.len() as f64 / 2.0 + 3.0
        );
        for (k, m) in modes.iter().enumerate() {
            let y = y0 + k as f64 * bar_h;
            let c = cell(trials, b, *m);
            match (c.median_inputs, c.median_seconds) {
                (Some(i), Some(s)) => {
                    let _ = writeln!(
                        out,
                        "<rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{b}, {}: {i} inputs, {} s, {}/{} found</title></rect>",
                        (x(i as f64) - label_w).max(1.0),
                        bar_h - 1.0,
                        colour(*m),
                        m.name(),
                        show_seconds(s),
                        c.found,
                        c.trials
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "<rect x=\"{label_w}\" y=\"{:.1}\" width=\"{plot_w}\" height=\"{:.1}\" fill=\"none\" stroke=\"{}\" stroke-dasharray=\"3,2\"><title>{b}, {}: not found ({}/{})</title></rect><text x=\"{:.1}\" y=\"{:.1}\" fill=\"{}\" font-size=\"8\">not found</text>",
                        y + 0.5,
                        bar_h - 2.0,
                        colour(*m),
                        m.name(),
                        c.found,
                        c.trials,
                        label_w + plot_w + 4.0,
                        y + bar_h - 1.5,
                        colour(*m)
                    );
                }
            }
        }
    }
    for (k, m) in modes.iter().enumerate() {
        let lx = label_w + k as f64 * 170.0;
        let ly = height - 14.0;
        let _ = writeln!(
            out,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"8\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{ly:.1}\">{}</text>",
            ly - 8.0,
            colour(*m),
            lx + 14.0,
            match m {
                OracleMode::Full => "vmfuzz (every oracle)",
                OracleMode::NonNullOnly => "non-NULL only (test_vmalloc)",
                OracleMode::CrashOnly => "crash only (syzkaller)",
            }
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(bug: &str, mode: OracleMode, seed: u64, hit: Option<(u64, f64)>) -> Trial {
        Trial {
            bug: bug.into(),
            mode,
            seed,
            inputs: 100,
            hit: hit.map(|(inputs, seconds)| Hit {
                inputs,
                seconds,
                kind: FindingKind::Leak,
                oracle: "ownership".into(),
            }),
        }
    }

    #[test]
    fn a_cell_takes_the_median_with_misses_counted_as_longest() {
        let f = OracleMode::Full;
        let trials = vec![
            t("a", f, 1, Some((5, 0.5))),
            t("a", f, 2, None),
            t("a", f, 3, Some((2, 0.2))),
            t("a", f, 4, Some((9, 0.9))),
            t("a", f, 5, None),
        ];
        let c = cell(&trials, "a", f);
        assert_eq!((c.found, c.trials), (3, 5));
        // Sorted: 0.2, 0.5, 0.9, miss, miss: the third.
        assert_eq!(c.median_seconds, Some(0.9));
        assert_eq!(c.median_inputs, Some(9));
        assert_eq!(c.oracle.as_deref(), Some("ownership"));
        // Two hits of five: the median is a miss.
        let c = cell(&trials[..2], "a", f);
        assert_eq!(c.median_seconds, Some(0.5), "lower median of two");
        let mut three_misses = trials.clone();
        three_misses[0].hit = None;
        assert_eq!(cell(&three_misses, "a", f).median_seconds, None);
    }

    #[test]
    fn a_miss_stays_in_the_table_the_csv_and_the_chart() {
        let trials = vec![
            t("a", OracleMode::Full, 1, Some((3, 0.01))),
            t("a", OracleMode::CrashOnly, 1, None),
        ];
        let table = table(&trials);
        assert!(table.contains("not found 0/1"), "{table}");
        assert!(table.contains("full: 1 of 1 faults found"), "{table}");
        assert!(table.contains("crash: 0 of 1 faults found"), "{table}");
        assert!(csv(&trials).contains("a,crash,1,false,,,,,100\n"));
        assert!(svg(&trials, Duration::from_secs(60)).contains("a, crash: not found (0/1)"));
        assert_eq!(parse_csv(&csv(&trials)), Ok(trials.clone()));
        assert!(markdown(&trials)
            .contains("| `a` | 0.01 s, 3 in., 1/1 | **not found** (0/1) | ownership |"));
        let j = json(&DetectOptions::default(), &trials);
        assert!(
            j.contains("\"mode\": \"crash\", \"seed\": 1, \"inputs_run\": 100, \"hit\": null"),
            "{j}"
        );
    }

    #[test]
    fn a_trial_finds_a_planted_fault_only_with_the_oracle_that_sees_it() {
        if !crate::planted::compiled() {
            return;
        }
        let opts = DetectOptions {
            time: Duration::from_secs(20),
            ..DetectOptions::default()
        };
        let stop = || false;
        // Pages that are not zeroed under __GFP_ZERO: vmfuzz reads them at once; nothing
        // crashes and no allocation fails for them.
        let full = trial("drop_gfp_zero", OracleMode::Full, 1, &opts, &stop);
        let hit = full.hit.expect("the full oracles find unzeroed pages");
        assert_eq!(
            (hit.kind, hit.oracle.as_str()),
            (FindingKind::WrongData, "contents")
        );
        assert!(hit.inputs <= 50, "{hit:?}");
        let bounded = DetectOptions {
            runs: Some(300),
            time: Duration::from_secs(600),
            ..opts
        };
        for mode in [OracleMode::CrashOnly, OracleMode::NonNullOnly] {
            let weak = trial("drop_gfp_zero", mode, 1, &bounded, &stop);
            assert_eq!(weak.hit, None, "{weak:?}");
            assert_eq!(weak.inputs, 300);
        }
    }
}
