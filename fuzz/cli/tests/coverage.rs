//! The campaign's code coverage and working corpus, through the real binary
//! (`docs/design.md` §5.4): the binary builds its instrumented copy with cargo and runs it, a
//! campaign saves what it keeps and the next one starts from it, `cmin` shrinks the corpus
//! without losing coverage, and `--jobs 2` runs worker processes.
//!
//! These tests need the instrumented build. If it is not available (no cargo, a failed build),
//! they fail and say why; they never pass on behaviours alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vmfuzz"));
    c.env("NO_COLOR", "1");
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh folder under the target directory, removed first if a previous run left it.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("coverage-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

/// The campaign's start line (standard error), which must say coverage is on.
fn start_line(o: &Output) -> String {
    let err = text(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("vmfuzz: campaign on"))
        .unwrap_or_else(|| panic!("no start line; the campaign did not start:\n{err}"))
        .to_string();
    assert!(
        line.contains("coverage on ("),
        "the campaign ran without code coverage (the instrumented build is not available \
         here, see the lines above the start line):\n{err}"
    );
    line
}

/// The `edges N of M` of the summary line.
fn edges(o: &Output) -> u64 {
    let out = text(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.contains(" inputs (") && l.contains("edges "))
        .unwrap_or_else(|| panic!("no summary line:\n{out}\n{}", text(&o.stderr)));
    line.split("edges ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no edge count in {line}"))
}

fn campaign(corpus: &Path, out: &Path, stats: &Path) -> Output {
    let o = bin()
        .args(["fuzz", "--time", "15", "--seed", "1", "--quiet"])
        .args(["--minimize-time", "0", "--corpus-out"])
        .arg(corpus)
        .arg("--out")
        .arg(out)
        .arg("--stats")
        .arg(stats)
        .output()
        .expect("the binary runs");
    // 0: clean; 1: a finding (the engine is fuzzed for real; the coverage claims below hold
    // either way).
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "status {:?}:\n{}\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    o
}

/// Two campaigns of 15 s with the same working corpus: the second says it loaded every input
/// the first saved, and covers at least the edges the first covered (each edge the first
/// reached is reached by an input it saved). Then `cmin` keeps fewer inputs with the same
/// coverage.
#[test]
fn the_second_campaign_starts_from_the_first_ones_corpus_and_cmin_keeps_its_coverage() {
    let dir = scratch("twice");
    let corpus = dir.join("working");
    let out = dir.join("findings");
    let first = campaign(&corpus, &out, &dir.join("first.csv"));
    let line = start_line(&first);
    assert!(
        line.contains("0 from the working corpus"),
        "the first campaign starts from an empty working corpus: {line}"
    );
    let saved = count_files(&corpus);
    let edges1 = edges(&first);
    assert!(saved > 0, "the first campaign saved nothing");
    assert!(edges1 > 0, "{}", text(&first.stdout));
    // The stats file: a header, then a line every 10 s and one at the end.
    let csv = std::fs::read_to_string(dir.join("first.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "elapsed_s,inputs,ops,corpus,edges,behaviours");
    assert!(lines.len() >= 3, "{csv}");
    let last: Vec<&str> = lines[lines.len() - 1].split(',').collect();
    assert_eq!(last[4], edges1.to_string(), "{csv}");

    let second = campaign(&corpus, &out, &dir.join("second.csv"));
    let line = start_line(&second);
    assert!(
        line.contains(&format!(
            "{saved} from the working corpus {}",
            corpus.display()
        )),
        "the second campaign should load the {saved} inputs of the first: {line}"
    );
    let edges2 = edges(&second);
    assert!(
        edges2 >= edges1,
        "the second campaign covers fewer edges ({edges2}) than the first ({edges1})"
    );

    let before = count_files(&corpus);
    let o = bin()
        .args(["cmin", "--quiet"])
        .arg(&corpus)
        .output()
        .unwrap();
    let stdout = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}{}", text(&o.stderr));
    assert!(
        stdout.contains(&format!("before {before} inputs, after ")),
        "{stdout}"
    );
    let after = count_files(&corpus);
    assert!(after > 0 && after < before, "{before} -> {after}: {stdout}");
    // The same coverage from the inputs kept: a second pass removes nothing and counts the
    // same edges and behaviours.
    let reach = |s: &str| {
        s.lines()
            .find(|l| l.contains(" inputs ran, "))
            .and_then(|l| l.split(" inputs ran, ").nth(1))
            .map(str::to_string)
            .unwrap_or_default()
    };
    let o2 = bin()
        .args(["cmin", "--quiet", "--dry-run"])
        .arg(&corpus)
        .output()
        .unwrap();
    let stdout2 = text(&o2.stdout);
    assert_eq!(reach(&stdout2), reach(&stdout), "{stdout}\n{stdout2}");
    assert!(
        stdout2.contains(&format!("before {after} inputs, after {after} ")),
        "{stdout2}"
    );
}

/// `--jobs 2` with coverage runs two worker processes that share the working corpus; the
/// summary counts the edges of both.
#[test]
fn two_jobs_are_two_processes_with_coverage() {
    let dir = scratch("jobs");
    let corpus = dir.join("working");
    let o = bin()
        .args([
            "fuzz", "--time", "5", "--seed", "1", "--jobs", "2", "--quiet",
        ])
        .args(["--minimize-time", "0", "--corpus-out"])
        .arg(&corpus)
        .arg("--out")
        .arg(dir.join("findings"))
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        text(&o.stderr)
    );
    let line = start_line(&o);
    assert!(line.contains("2 job(s) (worker processes"), "{line}");
    assert!(edges(&o) > 0);
    assert!(count_files(&corpus) > 0);
}

/// Without the instrumented build (here: no cargo), a campaign says so and runs on behaviours
/// only, and `cmin` refuses to touch the corpus (it would drop every input kept for code
/// coverage alone) unless `--coverage off` says so. A missing folder is an error.
#[test]
fn without_the_instrumented_build_fuzz_says_so_and_cmin_refuses() {
    let dir = scratch("no-cargo");
    let corpus = dir.join("working");
    let no_cargo = || {
        let mut c = bin();
        c.env("CARGO", dir.join("no-such-cargo"));
        c
    };
    // Generated inputs only: with the committed seeds, 20 runs would be no more than the
    // seeds, which are never saved again, and the test would depend on how many there are.
    let o = no_cargo()
        .args([
            "fuzz",
            "--runs",
            "20",
            "--no-seeds",
            "--seed",
            "1",
            "--quiet",
            "--corpus-out",
        ])
        .arg(&corpus)
        .arg("--out")
        .arg(dir.join("findings"))
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("vmfuzz: coverage unavailable: cannot run cargo"),
        "{err}"
    );
    assert!(
        err.contains("coverage unavailable (behaviours only)"),
        "{err}"
    );
    assert!(
        text(&o.stdout).contains(", edges n/a,"),
        "{}",
        text(&o.stdout)
    );
    let saved = count_files(&corpus);
    assert!(saved > 0);
    let o = no_cargo()
        .args(["cmin", "--quiet"])
        .arg(&corpus)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("cmin needs the coverage counters"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(count_files(&corpus), saved, "nothing may be removed");
    let o = no_cargo()
        .args(["cmin", "--quiet", "--coverage", "off", "--dry-run"])
        .arg(&corpus)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("edges not measured (--coverage off)"),
        "{}",
        text(&o.stdout)
    );
    let o = bin()
        .args(["cmin", "--quiet"])
        .arg(dir.join("missing"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("is not a folder"),
        "{}",
        text(&o.stderr)
    );
}

/// With coverage, `--jobs 1 --runs N` still repeats exactly from its seed and its starting
/// corpora: the same summary and the same inputs saved (the counts of an input are
/// deterministic, and the entry mutated is chosen by a deterministic cost, never by time).
#[test]
fn a_run_budget_repeats_exactly_with_coverage() {
    let dir = scratch("repeat");
    let run = |name: &str| {
        let corpus = dir.join(name);
        let o = bin()
            .args([
                "fuzz", "--runs", "400", "--time", "0", "--seed", "7", "--quiet",
            ])
            .args(["--minimize-time", "0", "--corpus-out"])
            .arg(&corpus)
            .arg("--out")
            .arg(dir.join("findings"))
            .output()
            .unwrap();
        start_line(&o);
        let summary: Vec<String> = text(&o.stdout)
            .lines()
            .filter(|l| l.contains("edges ") || l.contains("behaviours reached"))
            // Drop the rates (inputs/s, ops/s): they depend on the machine.
            .map(|l| {
                l.split(", ")
                    .map(|part| part.split(" (").next().unwrap_or(part))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect();
        let mut names: Vec<String> = std::fs::read_dir(&corpus)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        (summary, names)
    };
    let (a, b) = (run("a"), run("b"));
    assert!(!a.1.is_empty());
    assert_eq!(a, b);
}
