//! Entry points for the fuzzers in `fuzz/` (cargo-fuzz), built only with the `fuzzing`
//! feature and hidden (issue 18): each drives what a user types through the command's real
//! parser and asserts what must hold for any input — no panic, a usage error that renders,
//! and what is accepted means what it says (it renders back to words that parse the same).
//! Not an API: its functions panic when a property fails, which is what a fuzzer looks for.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::Duration;

use crate::cli::{self, Cli, Command, RunArgs, WaitLimit};

/// An argument vector (after the program's name): NUL separates the words, which may be any
/// bytes. The parser (clap, then `run`'s own settling of NAME, COMMAND and -c) accepts it or
/// gives a usage error that renders; an accepted `run` is consistent (exactly one of NAME and
/// --path, a COMMAND, no two conflicting options) and renders to a canonical command line that
/// parses to the same `run`.
///
/// ```
/// interlock_cli::fuzzing::argv(b"run\0--wait\x001.5s\0backup\0rsync\0-a");
/// ```
pub fn argv(input: &[u8]) {
    let words: Vec<OsString> = input
        .split(|&b| b == 0)
        .take(64)
        .map(|w| OsString::from_vec(w.to_vec()))
        .collect();
    match parse(words) {
        Err(e) => {
            assert!(!e.render().to_string().is_empty(), "an empty usage error");
            // The one-line form `parse` prints for a refused value.
            if let Some(line) = cli::one_line(&e) {
                assert!(line.starts_with("invalid value '"), "{line}");
            }
        }
        Ok(Cli {
            command: Command::Run(run),
        }) => {
            check_run(&run);
            let again = match parse(render(&run)) {
                Ok(Cli {
                    command: Command::Run(again),
                }) => again,
                other => panic!(
                    "{:?} renders to {:?}, which parses to {other:?}",
                    run,
                    render(&run)
                ),
            };
            assert!(
                same(&run, &again),
                "{run:?} renders to {:?}, which parses to {again:?}",
                render(&run)
            );
        }
        Ok(other) => {
            let _ = format!("{other:?}");
        }
    }
}

/// A `--wait` DURATION: accepted exactly when it is seconds or a number with a unit, within
/// ~584 years, or `inf`; an accepted one is the decimal number it spells in its unit (within
/// the f64 it goes through: a relative 2^-50, or half a nanosecond), and renders (as seconds
/// with nine decimals) to a DURATION that parses to the same within that precision. A refused
/// one says why. The same for `--mode`'s octal parser: accepted up to 7777, round-tripping.
///
/// ```
/// interlock_cli::fuzzing::duration("1.5s");
/// interlock_cli::fuzzing::duration("soon");
/// ```
pub fn duration(s: &str) {
    let parsed = cli::parse_wait(s);
    let expected = exact_nanos(s);
    match (&parsed, expected) {
        (Ok(WaitLimit::Forever), _) => assert!(s == "inf" || s == "infinity", "{s:?}: inf"),
        (Ok(WaitLimit::AtMost(d)), Some(Exact::Nanos(want))) => {
            let got = d.as_nanos();
            assert!(
                close(got, want),
                "{s:?} parsed to {got} ns, its value is {want} ns"
            );
            let shown = show(*d);
            match cli::parse_wait(&shown) {
                Ok(WaitLimit::AtMost(back)) => assert!(
                    close(back.as_nanos(), got),
                    "{s:?} = {got} ns renders to {shown:?} = {} ns",
                    back.as_nanos()
                ),
                other => panic!("{s:?} = {got} ns renders to {shown:?}, which gives {other:?}"),
            }
        }
        (Ok(WaitLimit::AtMost(d)), Some(Exact::TooBig)) => {
            panic!("{s:?} is far over u64::MAX ns but parsed to {d:?}")
        }
        (Ok(WaitLimit::AtMost(d)), None) => panic!("{s:?} is no DURATION but parsed to {d:?}"),
        (Err(why), Some(Exact::Nanos(want))) => {
            // Refused only past what a deadline holds (u64 nanoseconds), up to the rounding.
            assert!(
                want as f64 >= u64::MAX as f64 * (1.0 - 2f64.powi(-50)),
                "{s:?} ({want} ns) refused: {why}"
            );
            assert!(why.contains("use inf"), "{s:?}: {why}");
        }
        (Err(why), _) => assert!(!why.is_empty(), "{s:?}: an empty reason"),
    }
    if let Ok(mode) = cli::parse_mode(s) {
        assert!(mode <= 0o7777, "{s:?}: mode {mode:o}");
        assert_eq!(cli::parse_mode(&format!("{mode:o}")), Ok(mode));
    }
}

fn parse(words: Vec<OsString>) -> Result<Cli, clap::Error> {
    cli::try_parse_from(std::iter::once(OsString::from("interlock")).chain(words))
}

/// What an accepted `run` must be, whatever the words were.
fn check_run(run: &RunArgs) {
    assert!(
        run.name.is_some() != run.path.is_some(),
        "NAME and --path: {run:?}"
    );
    assert!(!run.command.is_empty(), "no COMMAND: {run:?}");
    assert!(run.mode <= 0o7777, "{run:?}");
    assert!(!(run.wait.is_some() && run.no_wait), "{run:?}");
    assert!(!(run.fair && (run.path.is_some() || run.slots.is_some() || run.shared)));
    assert!(!(run.slots.is_some() && (run.path.is_some() || run.shared)));
    if let Some(WaitLimit::AtMost(d)) = run.wait {
        assert!(d.as_nanos() < u128::from(u64::MAX), "{run:?}");
    }
}

/// `run` as canonical words: every option spelled long, then `--` NAME or nothing (--path),
/// then `--` and COMMAND's words.
fn render(run: &RunArgs) -> Vec<OsString> {
    let mut w: Vec<OsString> = vec!["run".into()];
    let mut opt = |flag: &str, on: bool| {
        if on {
            w.push(flag.into());
        }
    };
    opt("--no-wait", run.no_wait);
    opt("--fair", run.fair);
    opt("--shared", run.shared);
    opt("--kill-orphans", run.kill_orphans);
    opt("--verbose", run.verbose);
    opt("--json", run.json);
    if let Some(path) = &run.path {
        w.extend(["--path".into(), path.clone().into_os_string()]);
        w.extend(["--mode".into(), format!("{:o}", run.mode).into()]);
    }
    match run.wait {
        Some(WaitLimit::Forever) => w.extend(["--wait".into(), "inf".into()]),
        Some(WaitLimit::AtMost(d)) => w.extend(["--wait".into(), show(d).into()]),
        None => {}
    }
    if let Some(n) = run.slots {
        w.extend(["--slots".into(), n.to_string().into()]);
    }
    w.extend([
        "--conflict-exit-code".into(),
        run.conflict_exit_code.to_string().into(),
    ]);
    if let Some(endpoints) = &run.etcd.etcd {
        w.extend(["--etcd".into(), endpoints.into()]);
    }
    w.extend(["--etcd-ttl".into(), run.etcd.etcd_ttl.to_string().into()]);
    if let Some(name) = &run.name {
        // `--` first: a NAME may start with '-'.
        w.extend(["--".into(), name.into()]);
    }
    w.push("--".into());
    w.extend(run.command.iter().cloned());
    w
}

/// Two parses of `run` mean the same (a wait within its precision).
fn same(a: &RunArgs, b: &RunArgs) -> bool {
    let waits = match (a.wait, b.wait) {
        (Some(WaitLimit::AtMost(x)), Some(WaitLimit::AtMost(y))) => {
            close(x.as_nanos(), y.as_nanos())
        }
        (x, y) => x == y,
    };
    waits
        && a.name == b.name
        && a.path.as_ref().map(|p| p.as_os_str().as_bytes())
            == b.path.as_ref().map(|p| p.as_os_str().as_bytes())
        && a.mode == b.mode
        && a.no_wait == b.no_wait
        && a.fair == b.fair
        && a.slots == b.slots
        && a.shared == b.shared
        && a.kill_orphans == b.kill_orphans
        && a.conflict_exit_code == b.conflict_exit_code
        && a.verbose == b.verbose
        && a.json == b.json
        && a.etcd.etcd == b.etcd.etcd
        && a.etcd.etcd_ttl == b.etcd.etcd_ttl
        && a.command == b.command
}

/// A duration as `--wait` reads it back: seconds with nine decimals.
fn show(d: Duration) -> String {
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Equal within the precision of the f64 a DURATION goes through.
fn close(a: u128, b: u128) -> bool {
    a.abs_diff(b) as f64 <= (a.max(b) as f64 * 2f64.powi(-50)).max(1.0)
}

enum Exact {
    Nanos(u128),
    /// Over 10^20 units: far past u64::MAX nanoseconds.
    TooBig,
}

/// The nanoseconds a well-formed DURATION spells, computed exactly in integers — apart from
/// `parse_wait`'s f64 — or `None` for what is no DURATION (`inf` included).
fn exact_nanos(s: &str) -> Option<Exact> {
    let (unit, number) = [
        ("ms", 1_000_000u128),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
        ("d", 86_400_000_000_000),
    ]
    .iter()
    .find_map(|&(suffix, unit)| s.strip_suffix(suffix).map(|n| (unit, n)))
    .unwrap_or((1_000_000_000, s));
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if !(whole.bytes().all(|b| b.is_ascii_digit()) && fraction.bytes().all(|b| b.is_ascii_digit()))
        || whole.len() + fraction.len() == 0
    {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    if whole.len() > 20 {
        return Some(Exact::TooBig);
    }
    // Digits past the 24th of the fraction are below 10^-24 units, under a nanosecond even
    // in days; with 24 the product below stays within u128.
    let fraction = &fraction[..fraction.len().min(24)];
    let int = |d: &str| -> u128 { d.bytes().fold(0, |n, b| n * 10 + u128::from(b - b'0')) };
    let ns = int(whole) * unit;
    let frac_ns = int(fraction) * unit / 10u128.pow(fraction.len() as u32);
    let total = ns + frac_ns;
    Some(Exact::Nanos(total))
}
