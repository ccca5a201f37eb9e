//! `vmfuzz cmin [DIR]`: minimize a working corpus. Every input runs once (as the campaign runs
//! it, with the fuzzing checks); its features are its (edge, hit-count bucket) pairs in the
//! engine and the model and its behaviours. A greedy pass keeps, smallest input first, each
//! input that brings a feature the kept ones lack; a second pass drops, largest first, each
//! kept input whose every feature another kept input also has. The kept set reaches exactly
//! the features of the whole folder; the other files are then removed one by one, so an
//! interruption at any point leaves a folder that still covers everything.
//!
//! Files that cannot be read, and inputs that make a finding, are left alone and reported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use super::coverage_arg::{self, CoverageArg, CoverageMode};
use super::instrument::CoverageSetup;
use super::output::{note, outln, CliError};
use super::progress::Progress;
use super::signals::Signals;
use super::SubjectArg;
use crate::behaviour::Feature;
use crate::codec;
use crate::exec::{FullChecks, RunOptions};
use crate::load;
use crate::subjects::Registry;

#[derive(clap::Args, Debug)]
pub(super) struct CminArgs {
    /// The working corpus to minimize (default: fuzz/corpus/vmfuzz/). Its files are raw fuzzer
    /// inputs.
    dir: Option<PathBuf>,
    /// Report what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    coverage: CoverageArg,
    #[command(flatten)]
    subject: SubjectArg,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
}

/// One input of the folder and what it reaches.
struct Candidate {
    path: PathBuf,
    len: usize,
    /// Sorted feature ids: edge features below 2^32, behaviours above.
    features: Vec<u64>,
}

/// Behaviour ids start here, above every edge feature.
const BEHAVIOUR_BASE: u64 = 1 << 32;

/// The indices of a smallest-first greedy cover of every feature of `cands`, then without the
/// inputs (largest first) whose features the rest still cover.
fn cover(cands: &[Candidate]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cands.len()).collect();
    order.sort_by(|&a, &b| (cands[a].len, &cands[a].path).cmp(&(cands[b].len, &cands[b].path)));
    let mut seen = BTreeSet::new();
    let mut kept = Vec::new();
    for i in order {
        let mut new = false;
        for &f in &cands[i].features {
            new |= seen.insert(f);
        }
        if new {
            kept.push(i);
        }
    }
    let mut count: BTreeMap<u64, usize> = BTreeMap::new();
    for &i in &kept {
        for &f in &cands[i].features {
            *count.entry(f).or_default() += 1;
        }
    }
    let mut keep = vec![true; kept.len()];
    for k in (0..kept.len()).rev() {
        let feats = &cands[kept[k]].features;
        if feats.iter().all(|f| count[f] >= 2) {
            keep[k] = false;
            for f in feats {
                if let Some(c) = count.get_mut(f) {
                    *c -= 1;
                }
            }
        }
    }
    kept.into_iter()
        .zip(keep)
        .filter_map(|(i, k)| k.then_some(i))
        .collect()
}

/// Features, edges covered and behaviours of a set of candidates.
fn totals<'a>(cands: impl Iterator<Item = &'a Candidate>) -> (usize, usize, usize) {
    let all: BTreeSet<u64> = cands.flat_map(|c| c.features.iter().copied()).collect();
    let edges: BTreeSet<u64> = all
        .iter()
        .filter(|&&f| f < BEHAVIOUR_BASE)
        .map(|f| f / u64::from(crate::coverage::BUCKETS))
        .collect();
    let behaviours = all.iter().filter(|&&f| f >= BEHAVIOUR_BASE).count();
    (all.len() - behaviours, edges.len(), behaviours)
}

pub(super) fn run(a: CminArgs, registry: &Registry, setup: &CoverageSetup) -> Result<u8, CliError> {
    let Some(subject) = a.subject.resolve(registry)? else {
        return Ok(0);
    };
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(load::default_working_corpus_dir);
    if !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "{} is not a folder (cmin minimizes a working corpus folder)",
            dir.display()
        )));
    }
    let mode = a.coverage.mode();
    let counters = match coverage_arg::acquire(mode, setup, a.quiet)? {
        coverage_arg::Acquired::Counters(c) => c,
        coverage_arg::Acquired::Exited(code) => return Ok(code),
    };
    let counters = match (mode, counters) {
        (_, Some(c)) => Some(c),
        (CoverageMode::On, None) => {
            return Err(CliError::Usage(
                "cmin needs the coverage counters to keep the inputs that reach code the \
                 others do not (nothing was removed); `--coverage off` minimizes by \
                 behaviours only, which drops such inputs"
                    .into(),
            ))
        }
        (CoverageMode::Off, None) => None,
    };
    let opts = RunOptions {
        full_checks: FullChecks::FUZZING,
        ..RunOptions::default()
    };
    let signals = Signals::install();
    let mut progress = Progress::new(a.quiet);
    let start = Instant::now();
    let entries = super::entries(std::slice::from_ref(&dir));
    let total = entries.len();
    let mut interner: BTreeMap<Feature, u64> = BTreeMap::new();
    let mut cands = Vec::new();
    let mut useless = Vec::new();
    let (mut unreadable, mut findings) = (0usize, 0usize);
    for (n, entry) in entries.into_iter().enumerate() {
        if let Some(sig) = signals.received() {
            progress.finish();
            note!("vmfuzz cmin: interrupted; nothing was removed");
            return Err(CliError::Interrupted(sig));
        }
        progress.update(start.elapsed(), || format!("cmin: {n}/{total} inputs run"));
        let (path, bytes) = match entry.and_then(|p| load::read_bounded(&p).map(|b| (p, b))) {
            Ok(x) => x,
            Err(e) => {
                note!("vmfuzz cmin: left alone (unreadable): {e}");
                unreadable += 1;
                continue;
            }
        };
        let input = codec::decode(&bytes);
        if input.ops.is_empty() {
            // Decodes to nothing: the campaign rejects it without running it.
            useless.push(path);
            continue;
        }
        if let Some(c) = &counters {
            c.reset();
        }
        match subject.check(&input, &opts) {
            Ok(report) => {
                let mut features: Vec<u64> = counters
                    .as_ref()
                    .map(|c| c.features().into_iter().map(u64::from).collect())
                    .unwrap_or_default();
                for f in report.features {
                    let next = BEHAVIOUR_BASE + interner.len() as u64;
                    features.push(*interner.entry(f).or_insert(next));
                }
                features.sort_unstable();
                features.dedup();
                cands.push(Candidate {
                    path,
                    len: bytes.len(),
                    features,
                });
            }
            Err(f) => {
                note!(
                    "vmfuzz cmin: left alone: {} makes a finding ({}); replay it with \
                     `vmfuzz replay {}`",
                    path.display(),
                    f.kind.name(),
                    path.display()
                );
                findings += 1;
            }
        }
    }
    progress.finish();
    let kept = cover(&cands);
    let (f0, e0, b0) = totals(cands.iter());
    let (f1, e1, b1) = totals(kept.iter().map(|&i| &cands[i]));
    if (f0, e0, b0) != (f1, e1, b1) {
        return Err(CliError::Usage(format!(
            "internal error: the kept inputs lost coverage ({f1}/{f0} features); nothing was \
             removed"
        )));
    }
    let keep: BTreeSet<usize> = kept.iter().copied().collect();
    let mut remove: Vec<PathBuf> = (0..cands.len())
        .filter(|i| !keep.contains(i))
        .map(|i| cands[i].path.clone())
        .collect();
    remove.extend(useless.iter().cloned());
    let edges = if counters.is_some() {
        format!("{e0} edges ({f0} edge features), ")
    } else {
        "edges not measured (--coverage off), ".into()
    };
    outln!(
        "vmfuzz cmin: {}: {} inputs ran, {edges}{b0} behaviours",
        dir.display(),
        cands.len() + useless.len()
    );
    if let Some(sig) = signals.received() {
        note!("vmfuzz cmin: interrupted; nothing was removed");
        return Err(CliError::Interrupted(sig));
    }
    let mut removed = 0usize;
    if !a.dry_run {
        for p in &remove {
            match std::fs::remove_file(p) {
                Ok(()) => removed += 1,
                Err(e) => note!("vmfuzz cmin: cannot remove {}: {e}", p.display()),
            }
        }
    }
    outln!(
        "vmfuzz cmin: before {} inputs, after {} (same coverage); {} {}{}{}",
        cands.len() + useless.len(),
        kept.len(),
        if a.dry_run { "would remove" } else { "removed" },
        if a.dry_run { remove.len() } else { removed },
        if useless.is_empty() {
            String::new()
        } else {
            format!(" ({} decode to no op)", useless.len())
        },
        if unreadable + findings > 0 {
            format!("; left alone: {unreadable} unreadable, {findings} making a finding")
        } else {
            String::new()
        }
    );
    Ok(if findings > 0 { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(name: &str, len: usize, features: &[u64]) -> Candidate {
        Candidate {
            path: PathBuf::from(name),
            len,
            features: features.to_vec(),
        }
    }

    #[test]
    fn the_cover_keeps_every_feature_with_fewer_inputs() {
        let cands = [
            cand("a", 10, &[1, 2]),
            cand("b", 5, &[1]),
            cand("c", 20, &[1, 2, 3]),
            cand("d", 1, &[2]),
            cand("e", 30, &[1]),
        ];
        let kept = cover(&cands);
        // Smallest first: d {2}, b {1}, c {3}; then c alone covers 1, 2, 3 and the smaller
        // ones go.
        let names: Vec<_> = kept.iter().map(|&i| cands[i].path.clone()).collect();
        assert_eq!(names, [PathBuf::from("c")]);
        assert_eq!(
            totals(cands.iter()),
            totals(kept.iter().map(|&i| &cands[i]))
        );
        assert!(cover(&[]).is_empty());
    }
}
