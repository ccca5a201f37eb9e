//! The v1 trace parser. It is fed untrusted files: every error is a [`ParseError`] naming the
//! line and the problem, and no input makes it panic.

use super::args::{err, narrow, number, span_pair, Args, Result};
use super::op::op;
use super::{default_window, Expect, Trace, HEADER_V1};
use crate::finding::FindingKind;
use crate::ops::{
    Fault, FaultKind, Input, Knobs, Machine, NodeSpan, Op, Paging, PteScenario, KNOBS, MAX_OPS,
    PRESETS,
};
use crate::subject::BugKind;

/// Split a line at its comment: a `#` at the start or after whitespace.
fn split_comment(line: &str) -> (&str, Option<&str>) {
    let mut prev_ws = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_ws {
            return (&line[..i], Some(&line[i + 1..]));
        }
        prev_ws = c.is_whitespace();
    }
    (line, None)
}

/// Header values as read, with the line each came from (for error attribution).
#[derive(Default)]
struct Header {
    version: bool,
    machine: Option<(usize, Paging, u32, PteScenario, Knobs)>,
    nodes: Vec<(usize, NodeSpan)>,
    window: Option<(usize, (u64, u64))>,
    modules: Option<(usize, (u64, u64, u64))>,
    faults: Vec<(usize, Fault)>,
    expect: Option<(usize, Expect)>,
}

/// Parse a v1 trace, and check it against the domain of valid inputs ([`Input::validate`]).
///
/// Op syntax (`SIZE` and `len` accept `K`/`M`/`G`; `ADDR` is `null`, a number, `area#N`,
/// `area#N+OFF`, `stale#N` or `stale#N+OFF`; `GFP` is `GFP_KERNEL|__GFP_ZERO|...` or a
/// number; `FLAGS` is `0` or `VM_MAP|VM_NO_GUARD|...`; `PROT` a [`Prot::name`](crate::ops::Prot::name)):
/// `vmalloc SIZE` (and the other fixed wrappers), `vmalloc_node SIZE node=N|none`,
/// `vzalloc_node SIZE node=...`, `__vmalloc SIZE gfp=GFP prot=PROT`,
/// `__vmalloc_node_range SIZE align=A start=S end=E gfp=GFP prot=PROT vm_flags=FLAGS node=N`,
/// `module_alloc SIZE`, `get_vm_area SIZE flags=FLAGS`,
/// `__get_vm_area SIZE flags=FLAGS start=S end=E`, `free_vm_area ADDR`,
/// `alloc_page gfp=GFP node=N|none`, `free_page page#N` (or `free_page pfn:N`, any frame),
/// `vmap page#0,page#3 flags=FLAGS prot=PROT` (`vmap - ...` for no page),
/// `vunmap ADDR [ctx=irq|process]`, `vfree ADDR`, `vfree_irq area#N|NUMBER`,
/// `vfree_atomic area#N|NUMBER` (`area#N`: the Nth writable mapping),
/// `run_deferred`, `vm_unmap_aliases`, `vmallocinfo`, `find_vm_area ADDR`,
/// `vmalloc_to_pfn ADDR`, `is_vmalloc_addr ADDR`, `write area#N[+OFF] len=L seed=S`,
/// `read area#N[+OFF] len=L`; boundary arguments (design §4.1): `fit DSIZE via=vmalloc`,
/// `fit DSIZE via=module_alloc`, `fit DSIZE via=get_vm_area flags=FLAGS`,
/// `range_fit DSIZE align=A start=EDGE end=EDGE vm_flags=FLAGS`, where `DSIZE` is `gap#K`,
/// `largest`, `lazy_room`, `free_pages`, `array_limit` or `window` and `EDGE` is
/// `gap_start#K`, `gap_end#K`, `largest_start`, `largest_end`, `area_start#N`, `area_end#N`,
/// `window_start` or `window_end`, each optionally followed by `+Np` or `-Np` (pages,
/// `-16..=15`).
pub fn parse(text: &str) -> Result<Trace> {
    let mut h = Header::default();
    let mut comments = Vec::new();
    let mut ops: Vec<(usize, Op)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let ln = i + 1;
        let (code, comment) = split_comment(raw);
        let tokens: Vec<&str> = code.split_whitespace().collect();
        let Some((&kw, rest)) = tokens.split_first() else {
            if let (Some(c), true) = (comment, ops.is_empty()) {
                // A lone '\r' does not end a line for `lines()`; the printer writes it as a
                // space, so store it as one.
                comments.push(c.strip_prefix(' ').unwrap_or(c).replace('\r', " "));
            }
            continue;
        };
        if !h.version {
            version_line(ln, &tokens)?;
            h.version = true;
            continue;
        }
        if header_line(&mut h, ln, kw, rest, !ops.is_empty())? {
            continue;
        }
        ops.push((ln, op(ln, kw, rest)?));
    }
    if !h.version {
        return err(1, format!("empty trace: expected `{HEADER_V1}`"));
    }
    let machine = build_machine(&h)?;
    let n = ops.len();
    if let Some((ln, _)) = ops.get(MAX_OPS) {
        return err(*ln, format!("more than {MAX_OPS} ops"));
    }
    for (i, (ln, op)) in ops.iter().enumerate() {
        op.validate(&machine, i + 1 == n)
            .or_else(|e| err(*ln, format!("{}: {e}", op.kind())))?;
    }
    let input = Input {
        machine,
        ops: ops.into_iter().map(|(_, op)| op).collect(),
    };
    input.validate().or_else(|e| err(1, e))?;
    let expect = h.expect.map_or(Expect::Clean, |(_, e)| e);
    Ok(Trace {
        input,
        expect,
        comments,
    })
}

fn version_line(ln: usize, tokens: &[&str]) -> Result<()> {
    match tokens {
        ["vmfuzz-trace", "v1"] => Ok(()),
        ["vmfuzz-trace", "v1", extra, ..] => {
            err(ln, format!("unexpected `{extra}` after `{HEADER_V1}`"))
        }
        ["vmfuzz-trace", v, ..] => err(
            ln,
            format!("unsupported trace version `{v}` (this build reads v1; `vmfuzz convert` upgrades old traces)"),
        ),
        ["vmfuzz-trace"] => err(ln, "missing version: the first line is `vmfuzz-trace v1`"),
        _ => err(
            ln,
            format!("expected `{HEADER_V1}` as the first line, found `{}`", tokens.join(" ")),
        ),
    }
}

/// Handle a header line; `Ok(false)` if `kw` is not a header keyword.
fn header_line(
    h: &mut Header,
    ln: usize,
    kw: &str,
    rest: &[&str],
    after_ops: bool,
) -> Result<bool> {
    const HEADERS: [&str; 6] = [
        "machine",
        "node",
        "vmalloc_window",
        "modules_window",
        "fault",
        "expect:",
    ];
    let (kw, rest): (&str, Vec<&str>) = match kw.strip_prefix("expect:") {
        Some(tail) if !tail.is_empty() => (
            "expect:",
            std::iter::once(tail).chain(rest.iter().copied()).collect(),
        ),
        _ => (kw, rest.to_vec()),
    };
    if kw == "expect" {
        return err(ln, "write `expect:` with a colon, e.g. `expect: clean`");
    }
    if !HEADERS.contains(&kw) {
        return Ok(false);
    }
    if after_ops {
        return err(
            ln,
            format!("header line `{kw}` after the first op: header lines come first"),
        );
    }
    let dup = |first: Option<usize>| match first {
        Some(f) => err(ln, format!("duplicate `{kw}` line (first on line {f})")),
        None => Ok(()),
    };
    match kw {
        "machine" => {
            dup(h.machine.map(|m| m.0))?;
            let d = Machine::default();
            let mut keys = vec!["paging", "cpus", "pte", "kernel"];
            keys.extend(KNOBS.iter().map(|k| k.key));
            let a = Args::new(ln, kw, &rest, &keys)?;
            a.pos::<0>([])?;
            // `kernel=PRESET` first, then each knob named on the line over it.
            let mut knobs = match a.opt("kernel") {
                None => Knobs::default(),
                Some(p) => Knobs::preset(p).map_or_else(
                    || {
                        err(
                            ln,
                            format!("kernel takes {}, not `{p}`", PRESETS.join(", ")),
                        )
                    },
                    Ok,
                )?,
            };
            for k in KNOBS {
                if let Some(v) = a.opt(k.key) {
                    knobs.set(k.key, v).or_else(|e| err(ln, e))?;
                }
            }
            let paging = match a.opt("paging") {
                None | Some("4") => Paging::FourLevel,
                Some("5") => Paging::FiveLevel,
                Some(v) => return err(ln, format!("paging must be 4 or 5, not `{v}`")),
            };
            let cpus = match a.opt("cpus") {
                None => d.nr_cpus,
                Some(v) => narrow(ln, number(ln, v, "cpus")?, "cpus")?,
            };
            let pte = match a.opt("pte") {
                None => d.pte,
                Some(v) => PteScenario::ALL
                    .into_iter()
                    .find(|p| format!("{p:?}") == v)
                    .map_or_else(
                        || err(ln, format!("pte must be one of A, B, C, D, E, not `{v}`")),
                        Ok,
                    )?,
            };
            h.machine = Some((ln, paging, cpus, pte, knobs));
        }
        "node" => {
            let a = Args::new(ln, kw, &rest, &[])?;
            let [span] = a.pos(["START-END"])?;
            let (start_pfn, end_pfn) = span_pair(ln, span, "node")?;
            h.nodes.push((ln, NodeSpan { start_pfn, end_pfn }));
        }
        "vmalloc_window" => {
            dup(h.window.map(|w| w.0))?;
            let a = Args::new(ln, kw, &rest, &[])?;
            let [span] = a.pos(["START-END"])?;
            h.window = Some((ln, span_pair(ln, span, "vmalloc_window")?));
        }
        "modules_window" => {
            dup(h.modules.map(|m| m.0))?;
            let a = Args::new(ln, kw, &rest, &["load_offset"])?;
            let [span] = a.pos(["START-END"])?;
            let (start, end) = span_pair(ln, span, "modules_window")?;
            let off = a
                .opt("load_offset")
                .map_or(Ok(0), |v| number(ln, v, "load_offset"))?;
            h.modules = Some((ln, (start, end, off)));
        }
        "fault" => {
            let a = Args::new(ln, kw, &rest, &[])?;
            let [kind, k] = a.pos(["KIND", "K"])?;
            let kind = FaultKind::from_name(kind).map_or_else(
                || {
                    let names: Vec<_> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                    err(
                        ln,
                        format!("unknown fault kind `{kind}` (one of {})", names.join(", ")),
                    )
                },
                Ok,
            )?;
            let k = number(ln, k, "fault index")?;
            h.faults.push((ln, Fault { kind, k }));
        }
        _ => {
            dup(h.expect.as_ref().map(|e| e.0))?;
            h.expect = Some((ln, expect(ln, &rest)?));
        }
    }
    Ok(true)
}

fn expect(ln: usize, rest: &[&str]) -> Result<Expect> {
    let finding = |name: &str| {
        FindingKind::from_name(name).map_or_else(
            || {
                let names: Vec<_> = FindingKind::ALL.iter().map(|k| k.name()).collect();
                err(
                    ln,
                    format!("unknown expectation `{name}`: clean, bug <name>, hang, or a finding kind ({})", names.join(", ")),
                )
            },
            Ok,
        )
    };
    match rest {
        ["clean"] => Ok(Expect::Clean),
        ["hang"] => Ok(Expect::Hang),
        ["bug", name] => BugKind::from_name(name).map(Expect::Bug).map_or_else(
            || {
                let names: Vec<_> = BugKind::ALL.iter().map(|k| k.name()).collect();
                err(ln, format!("unknown bug `{name}` (one of {})", names.join(", ")))
            },
            Ok,
        ),
        ["bug"] => err(ln, "`expect: bug` needs a bug name"),
        [kind] => Ok(Expect::Finding {
            kind: finding(kind)?,
            planted: None,
        }),
        [kind, "under", planted] => Ok(Expect::Finding {
            kind: finding(kind)?,
            planted: Some(planted.to_string()),
        }),
        [_, "under"] => err(ln, "`under` needs a planted bug name"),
        [] => err(ln, "`expect:` needs a value: clean, bug <name>, hang, or a finding kind"),
        _ => err(ln, format!("cannot read `expect: {}`: clean, bug <name>, hang, <finding> or <finding> under <planted>", rest.join(" "))),
    }
}

/// The machine from the header, validated; an error names the header line at fault.
fn build_machine(h: &Header) -> Result<Machine> {
    let d = Machine::default();
    let base = match h.machine {
        Some((_, paging, nr_cpus, pte, knobs)) => {
            let (vmalloc_start, vmalloc_end) = default_window(paging);
            Machine {
                paging,
                nr_cpus,
                pte,
                vmalloc_start,
                vmalloc_end,
                knobs,
                ..d.clone()
            }
        }
        None => d,
    };
    let machine_ln = h.machine.map_or(1, |m| m.0);
    base.validate().or_else(|e| err(machine_ln, e))?;
    let mut m = base.clone();
    if !h.nodes.is_empty() {
        let mut nodes = Vec::new();
        for (ln, n) in &h.nodes {
            nodes.push(*n);
            let trial = Machine {
                nodes: nodes.clone(),
                ..base.clone()
            };
            trial.validate().or_else(|e| err(*ln, e))?;
        }
        m.nodes = nodes;
    }
    if let Some((ln, (start, end))) = h.window {
        let trial = Machine {
            vmalloc_start: start,
            vmalloc_end: end,
            ..base.clone()
        };
        trial.validate().or_else(|e| err(ln, e))?;
        (m.vmalloc_start, m.vmalloc_end) = (start, end);
    }
    if let Some((ln, (start, end, off))) = h.modules {
        let trial = Machine {
            modules_vaddr: start,
            modules_end: end,
            module_load_offset: off,
            ..base.clone()
        };
        trial.validate().or_else(|e| err(ln, e))?;
        (m.modules_vaddr, m.modules_end, m.module_load_offset) = (start, end, off);
    }
    for (ln, f) in &h.faults {
        m.faults.push(*f);
        let trial = Machine {
            faults: m.faults.clone(),
            ..base.clone()
        };
        trial.validate().or_else(|e| err(*ln, e))?;
    }
    m.validate().or_else(|e| err(machine_ln, e))?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_start_at_a_hash_after_whitespace() {
        assert_eq!(
            split_comment("vfree area#1 # x"),
            ("vfree area#1 ", Some(" x"))
        );
        assert_eq!(split_comment("#x"), ("", Some("x")));
        assert_eq!(split_comment("vmalloc 1#x"), ("vmalloc 1#x", None));
        assert_eq!(split_comment("é\t#é"), ("é\t", Some("é")));
    }

    #[test]
    fn machine_line_keys_are_optional_and_windows_follow_paging() {
        let t = parse("vmfuzz-trace v1\nmachine paging=5\n").unwrap_or_else(|e| panic!("{e}"));
        let m = &t.input.machine;
        assert_eq!(
            (m.vmalloc_start, m.vmalloc_end),
            default_window(Paging::FiveLevel)
        );
        assert_eq!(m.nr_cpus, Machine::default().nr_cpus);
        let t = parse("vmfuzz-trace v1\r\nexpect:leak\r\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t.expect,
            Expect::Finding {
                kind: FindingKind::Leak,
                planted: None
            }
        );
    }
}
