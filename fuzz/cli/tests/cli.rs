//! The `vmfuzz` binary under the inputs a new user and a tester throw at it: every result is
//! stated honestly, nothing is lost or overwritten, nothing panics on the way out. Each test
//! reproduces one way a result used to be lost or faked, and checks it no longer is.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use vmfuzz::load::ReadAs;
use vmfuzz::replay::replay_file;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vmfuzz"));
    c.env("NO_COLOR", "1");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh folder under the target directory, removed first if a previous run left it.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn corpus(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../corpus")
        .join(rel)
        .display()
        .to_string()
}

fn no_panic(o: &Output) {
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(!all.contains("panicked"), "the binary panicked:\n{all}");
}

/// A regression trace whose header has a typo, or starts with a byte-order mark, used to be
/// decoded as raw fuzzer bytes and replay `ok` (even with `expect: leak`). Now it is an error
/// naming the file and the line, in `replay` and in the corpus test's loader.
#[test]
fn mistyped_header_and_bom_in_a_regression_folder_fail() {
    let dir = scratch("bad-headers").join("corpus/regressions");
    std::fs::create_dir_all(&dir).unwrap();
    let typo = dir.join("typo.trace");
    std::fs::write(&typo, "vmfuzz_trace v1\nexpect: leak\nvmalloc 0x1000\n").unwrap();
    let bom = dir.join("bom.trace");
    std::fs::write(
        &bom,
        "\u{feff}vmfuzz-trace v1\nexpect: leak\nvmalloc 0x1000\n",
    )
    .unwrap();
    let empty = dir.join("empty.trace");
    std::fs::write(&empty, "").unwrap();
    let o = run(&["replay", dir.to_str().unwrap()]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains(&format!(
        "ERROR {}: line 1: expected `vmfuzz-trace v1` as the first line, found `vmfuzz_trace v1`",
        typo.display()
    )));
    assert!(out.contains(&format!(
        "ERROR {}: line 1: the file starts with a UTF-8 byte-order mark",
        bom.display()
    )));
    assert!(out.contains(&format!("ERROR {}: line 1: empty trace", empty.display())));
    assert!(out.contains("0 passed, 0 failed, 3 unreadable"), "{out}");
    // The loader the corpus test uses (one test per file) rejects each of them too.
    for f in [&typo, &bom, &empty] {
        let e = replay_file(f, ReadAs::Trace).expect_err("a bad trace is an error");
        assert!(e.to_string().contains("line 1:"), "{e}");
    }
    // Not-a-trace files anywhere are errors too, never "ok".
    for f in ["/dev/null", "/proc/cpuinfo"] {
        let o = run(&["replay", f]);
        assert_eq!(o.status.code(), Some(2), "{f}: {}", text(&o.stdout));
        assert!(text(&o.stdout).starts_with(&format!("ERROR {f}: ")));
    }
}

/// A non-UTF-8 trace names the line, not a byte index.
#[test]
fn a_non_utf8_trace_names_the_line() {
    let dir = scratch("utf8");
    let f = dir.join("bad.trace");
    std::fs::write(&f, b"vmfuzz-trace v1\nvmalloc 0x1000\nvfree area#0 \xff\n").unwrap();
    let o = run(&["replay", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stdout).contains("line 3: not valid UTF-8"),
        "{}",
        text(&o.stdout)
    );
}

/// Binary content is raw fuzzer bytes only in a fuzzer folder or with `--raw`.
#[test]
fn raw_bytes_only_where_asked_for() {
    let dir = scratch("raw");
    let bytes = [0u8, 1, 2, 3, 0xff, 0x10, 0x20, 7, 7, 7, 9];
    let loose = dir.join("input.bin");
    std::fs::write(&loose, bytes).unwrap();
    let o = run(&["replay", loose.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stdout).contains("--raw"), "{}", text(&o.stdout));
    let o = run(&["replay", "--raw", loose.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    let artifacts = dir.join("fuzz/artifacts/differential");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("crash-1"), bytes).unwrap();
    let o = run(&["replay", artifacts.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
}

/// `/dev/zero`, a FIFO and an oversized file give a clear error, not unbounded memory or a
/// hang.
#[test]
fn dev_zero_fifo_and_an_oversized_file_are_refused() {
    let dir = scratch("bounded");
    let big = dir.join("big.trace");
    let mut f = std::fs::File::create(&big).unwrap();
    let line = b"# padding padding padding padding padding padding padding padding\n";
    for _ in 0..(5 << 20) / line.len() {
        f.write_all(line).unwrap();
    }
    drop(f);
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    let mut args = vec!["replay", "/dev/zero", big.to_str().unwrap()];
    if made.is_ok_and(|s| s.success()) {
        args.push(fifo.to_str().unwrap());
    }
    let start = Instant::now();
    let o = run(&args);
    assert!(start.elapsed() < Duration::from_secs(30));
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("ERROR /dev/zero: not a regular file"), "{out}");
    assert!(out.contains("input files are at most"), "{out}");
    if args.len() == 4 {
        assert!(out.contains("fifo: not a regular file"), "{out}");
    }
    no_panic(&o);
}

/// Output to a closed pipe or a full disk ends quietly with a non-zero status.
#[test]
fn closed_pipe_and_full_disk_end_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = bin()
        .args(["replay", &corpus("seeds")])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(141), "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr), "", "a closed pipe ends silently");
    if let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") {
        let o = bin()
            .args(["replay", &corpus("seeds")])
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert!(text(&o.stderr).contains("cannot write to standard output"));
        no_panic(&o);
    }
}

/// Numeric options are range-checked (a huge `--max-len` used to panic with `capacity
/// overflow`); `--jobs 0` and `--runs 0` are errors.
#[test]
fn numeric_options_are_range_checked() {
    for args in [
        &["fuzz", "--max-len", "18446744073709551615", "--time", "0"][..],
        &["fuzz", "--max-len", "8"],
        &["fuzz", "--jobs", "0"],
        &["fuzz", "--runs", "0"],
        &["fuzz", "--minimize-time", "99999"],
        &["minimize", "--budget", "0", "x.trace"],
    ] {
        let start = Instant::now();
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(start.elapsed() < Duration::from_secs(20), "{args:?}");
        assert!(text(&o.stderr).contains("invalid value"), "{args:?}");
        no_panic(&o);
    }
}

/// An unwritable `--out` is an error naming it, before any fuzzing.
#[test]
fn unwritable_out_fails_before_the_run() {
    let dir = scratch("unwritable");
    let file = dir.join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let o = run(&["fuzz", "--runs", "5", "--out", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(!err.contains("campaign seed"), "fuzzing started: {err}");
    assert_eq!(text(&o.stdout), "");
}

/// `--planted list` lists the faults (it was advertised and failed); an unknown fault name is
/// an error (status 2), not a skip with status 0.
#[test]
fn planted_list_and_unknown_names() {
    let o = run(&["fuzz", "--planted", "list"]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    for name in vmfuzz::planted::names() {
        assert!(out.contains(name), "{name} missing from:\n{out}");
    }
    let o = run(&["fuzz", "--planted", "no_such_fault", "--runs", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("unknown planted fault"));
    let dir = scratch("unknown-planted");
    let f = dir.join("t.trace");
    std::fs::write(
        &f,
        "vmfuzz-trace v1\nexpect: leak under no_such_fault\nvmalloc 0x1000\n",
    )
    .unwrap();
    for cmd in ["replay", "explain", "minimize"] {
        let o = run(&[cmd, f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", text(&o.stdout));
        let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
        assert!(all.contains("unknown planted fault"), "{cmd}: {all}");
    }
}

/// `--subject list` names every subject the binary registers: the engine and the worked
/// example `simple-vmalloc` with its bug (`simple`) and without (`simple-fixed`); a trace of
/// the example's bug replays as found on `simple` and clean on `simple-fixed`.
#[test]
fn subject_list_and_the_example_subjects() {
    let o = run(&["fuzz", "--subject", "list"]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["engine", "simple", "simple-fixed"], "{out}");
    let dir = scratch("subjects");
    let f = dir.join("lazy.trace");
    // 12000 pages on a 12032-page machine: the nested array and the data pages fit, the page
    // tables do not, so the call fails with 12001 pages lazily freed, above lazy_max_pages =
    // 8192 (one CPU): the failure path must purge (R8, R9 step 2).
    std::fs::write(
        &f,
        "vmfuzz-trace v1\nmachine paging=4 cpus=1 pte=A\nnode 0x0-0x3000\n\
         expect: invariant_broken\nvmalloc 0x2ee0000\n",
    )
    .unwrap();
    let o = run(&["replay", "--subject", "simple", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    let o = run(&["replay", "--subject", "simple-fixed", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("the run was clean"),
        "{}",
        text(&o.stdout)
    );
    no_panic(&o);
}

/// A raw input that ends in a `__GFP_NOFAIL` hang converts to a trace that says so, and
/// replays as a pass (raw bytes have no `expect:` line; a hang on both sides is no finding).
#[test]
fn convert_of_a_hanging_input_says_hang() {
    let dir = scratch("convert");
    let bytes = dir.join("hang.bin");
    let o = run(&[
        "convert",
        &corpus("seeds/nofail_exhaustion_hangs.trace"),
        "-o",
        bytes.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = run(&["convert", bytes.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let t = text(&o.stdout);
    assert!(t.contains("\nexpect: hang\n"), "{t}");
    let o = run(&["replay", "--raw", bytes.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    // And the converted trace replays as a pass.
    let back = dir.join("hang.trace");
    std::fs::write(&back, t).unwrap();
    let o = run(&["replay", back.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
}

/// `replay`, `explain` and `minimize` state the same verdict on the same file, with the same
/// exit status, and reports use the `expect:` syntax.
#[test]
fn replay_explain_and_minimize_agree() {
    let dir = scratch("agree");
    let bug = dir.join("bug.trace");
    std::fs::write(
        &bug,
        "vmfuzz-trace v1\nexpect: bug align_not_power_of_two\n\
         __vmalloc_node_range 0x1000 align=0x3 start=0xffffc90000000000 \
         end=0xffffe8ffffffffff gfp=GFP_KERNEL prot=PAGE_KERNEL vm_flags=0 node=none\n",
    )
    .unwrap();
    let wrong = dir.join("wrong.trace");
    std::fs::write(&wrong, "vmfuzz-trace v1\nexpect: hang\nvmalloc 0x1000\n").unwrap();
    let planted = dir.join("planted.trace");
    std::fs::write(
        &planted,
        "vmfuzz-trace v1\nexpect: wrong_placement under skip_guard_page\n\
         vmalloc 0x1000\nvmalloc 0x1000\n",
    )
    .unwrap();
    let cases = [
        (corpus("seeds/la57_sme_module_alloc.trace"), 0),
        (corpus("seeds/nofail_exhaustion_hangs.trace"), 0),
        (bug.display().to_string(), 0),
        (wrong.display().to_string(), 1),
        (planted.display().to_string(), 0),
    ];
    for (file, want) in cases {
        for cmd in ["replay", "explain", "minimize"] {
            let mut args = vec![cmd, file.as_str()];
            let out = dir.join("min.trace");
            let out = out.to_str().unwrap().to_string();
            if cmd == "minimize" {
                args.extend(["-o", &out, "--time", "5"]);
            }
            let o = run(&args);
            assert_eq!(
                o.status.code(),
                Some(want),
                "{cmd} {file}:\n{}{}",
                text(&o.stdout),
                text(&o.stderr)
            );
            no_panic(&o);
        }
    }
    let o = run(&["explain", wrong.to_str().unwrap()]);
    let out = text(&o.stdout);
    assert!(
        out.contains("expected `expect: hang`, but the run was clean"),
        "{out}"
    );
    let o = run(&["explain", bug.to_str().unwrap()]);
    let out = text(&o.stdout);
    assert!(
        out.contains("the input ended with `bug align_not_power_of_two`"),
        "{out}"
    );
    assert!(!out.contains("AlignNotPowerOfTwo"), "{out}");
    // explain shows the whole resolved call: align, start and end included.
    assert!(
        out.contains(
            "__vmalloc_node_range(0x1000, align=0x3, 0xffffc90000000000-0xffffe8ffffffffff"
        ),
        "{out}"
    );
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Ctrl-C during minimization keeps the finding on disk, says where, and exits 130.
///
/// The campaign starts from one seed: 80 vmallocs of 600 pages (each with a nested pages
/// array: slow to run, so minimization is still at its first runs when the signal comes),
/// then a 1-page area is freed and purged and a 1-page vmalloc asks for exactly its 2-page
/// hole, which `fit_rejects_exact_hole` refuses: a wrong placement at the last op.
#[test]
fn ctrl_c_during_minimization_keeps_the_finding() {
    let out = scratch("ctrl-c");
    let seeds = out.join("seeds");
    std::fs::create_dir_all(&seeds).unwrap();
    let mut t = String::from("vmfuzz-trace v1\nexpect: clean\nvmalloc 0x1000\n");
    for _ in 0..80 {
        t.push_str("vmalloc 0x258000\n");
    }
    t.push_str("vfree area#0\nvm_unmap_aliases\nvmalloc 0x1000\n");
    std::fs::write(seeds.join("slow.trace"), t).unwrap();
    let findings = out.join("findings");
    let child = bin()
        .args([
            "fuzz",
            "--planted",
            "fit_rejects_exact_hole",
            "--seed",
            "1",
            "--quiet",
            "--minimize-time",
            "600",
            "--coverage",
            "off",
            "--corpus-out",
        ])
        .arg(out.join("working"))
        .arg("--corpus")
        .arg(&seeds)
        .arg("--out")
        .arg(&findings)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = findings.join("wrong_placement-0.trace");
    // Interrupt as soon as the unminimized finding is on disk: minimization has started (or
    // is about to, and then stops at once), and takes far longer than this poll.
    let start = Instant::now();
    while !first.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for the unminimized finding"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let o = child.wait_with_output().unwrap();
    let stdout = text(&o.stdout);
    assert_eq!(o.status.code(), Some(130), "{stdout}{}", text(&o.stderr));
    assert!(stdout.contains(&format!(
        "the finding is saved (unminimized, with its report) in {}",
        first.display()
    )));
    assert!(
        stdout.contains("(interrupted; smallest so far kept)"),
        "{stdout}"
    );
    let saved = std::fs::read_to_string(&first).unwrap();
    assert!(saved.contains("expect: wrong_placement under fit_rejects_exact_hole"));
    assert!(saved.contains("# the report at the time of the finding:"));
    // It replays (this test binary's build has the planted faults compiled in).
    let o = run(&["replay", first.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    no_panic(&o);
}

/// Two campaigns writing into the same `--out` keep both findings.
#[test]
fn two_concurrent_campaigns_keep_both_findings() {
    let out = scratch("concurrent");
    let working = scratch("concurrent-working");
    let spawn = |seed: &str| {
        bin()
            .args([
                "fuzz",
                "--planted",
                "skip_guard_page",
                "--seed",
                seed,
                "--quiet",
                "--minimize-time",
                "2",
                "--coverage",
                "off",
                "--corpus-out",
            ])
            .arg(working.join(seed))
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("1"), spawn("2"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(a.status.code(), Some(1), "{}", text(&a.stderr));
    assert_eq!(b.status.code(), Some(1), "{}", text(&b.stderr));
    let names = files(&out);
    assert_eq!(
        names,
        [
            "wrong_placement-0.min.trace",
            "wrong_placement-0.trace",
            "wrong_placement-1.min.trace",
            "wrong_placement-1.trace"
        ],
        "{names:?}"
    );
    let stdout = text(&a.stdout);
    // The reproduce command names the feature and the fault.
    assert!(
        stdout.contains(
            "reproduce: cargo run --release -q -p vmfuzz-cli --features planted-bugs -- replay \
             --planted skip_guard_page"
        ),
        "{stdout}"
    );
    assert_eq!(stdout.matches("diff (< model").count(), 1, "{stdout}");
    assert!(!stdout.contains("Diff < left"), "{stdout}");
}

/// The summary's rule count is the number of rules it lists.
#[test]
fn the_summary_counts_the_rules_it_lists() {
    let out = scratch("summary");
    let o = bin()
        .args(["fuzz", "--runs", "12", "--seed", "3", "--quiet"])
        .args(["--coverage", "off", "--corpus-out"])
        .arg(out.join("working"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("behaviours reached"))
        .expect("summary line");
    let rules = line.split("rules ").nth(1).unwrap();
    let n: usize = rules.split_whitespace().next().unwrap().parse().unwrap();
    let list = rules.split('[').nth(1).unwrap().split(']').next().unwrap();
    assert_eq!(n, list.split_whitespace().count(), "{line}");
}

/// `bench detect` on two faults: one that every oracle sees (an oops, `vunmap_null_deref`)
/// and one that only the full oracles see (pages not zeroed under `__GFP_ZERO`: nothing
/// crashes, no allocation fails). A miss stays in the table and the CSV; the four files are
/// written; a bad fault or mode name is a usage error before any trial.
#[test]
fn bench_detect_writes_every_trial_and_keeps_the_misses() {
    let dir = scratch("bench-detect");
    let out = dir.join("out");
    let o = run(&[
        "bench",
        "detect",
        "--faults",
        "drop_gfp_zero,vunmap_null_deref",
        "--seeds",
        "1",
        "--time",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    no_panic(&o);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
    let row = |fault: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(fault))
            .unwrap_or_else(|| panic!("no row for {fault}:\n{stdout}"))
            .to_string()
    };
    let zero: Vec<String> = row("drop_gfp_zero")
        .split('|')
        .map(|c| c.trim().to_string())
        .collect();
    assert!(zero[1].ends_with("in 1/1"), "full finds it: {zero:?}");
    assert_eq!(&zero[2..4], ["not found 0/1", "not found 0/1"], "{zero:?}");
    assert_eq!(zero[4], "contents");
    let deref: Vec<String> = row("vunmap_null_deref")
        .split('|')
        .map(|c| c.trim().to_string())
        .collect();
    assert!(
        deref[1..4].iter().all(|c| c.ends_with("in 1/1")),
        "{deref:?}"
    );
    assert!(stdout.contains("crash: 1 of 2 faults found"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("detect.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 6, "{csv}");
    assert!(csv.contains("drop_gfp_zero,crash,1,false,"), "{csv}");
    for f in ["detect.txt", "detect.md", "detect.json", "detect.svg"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // Drawn again from the CSV alone: the same table.
    let again = dir.join("again");
    let csv_path = out.join("detect.csv");
    let o = run(&[
        "bench",
        "detect",
        "--from",
        csv_path.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(again.join("detect.md")).unwrap(),
        std::fs::read_to_string(out.join("detect.md")).unwrap()
    );
    for bad in [["--faults", "no_such_fault"], ["--modes", "strong"]] {
        let o = run(&[
            "bench",
            "detect",
            bad[0],
            bad[1],
            "--out",
            out.to_str().unwrap(),
        ]);
        no_panic(&o);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    }
}
