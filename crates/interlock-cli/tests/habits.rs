//! Issue 12, "flock(1) and lslocks users' habits": `run NAME cmd args` without `--`, `-c`,
//! `--verbose`, `--wait` with units, and the line about who holds the lock when a wait goes past
//! a second.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::util::{describe, stderr, stdout, timed, Ns};

/// `interlock run NAME cmd args` runs `cmd args` as flock's `flock FILE cmd args` does:
/// everything after NAME is COMMAND's, words that look like options (interlock's own, `-c`
/// past COMMAND, `--`) included. `--` right after NAME still works, and so does `--path` with
/// and without `--`.
#[test]
fn run_without_dashdash_gives_the_command_its_own_args() {
    let ns = Ns::new();
    let out = ns.run(&[
        "run", "c", "printf", "%s|", "-n", "--wait", "5", "-c", "x", "--", "y",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "-n|--wait|5|-c|x|--|y|", "{}", describe(&out));

    for args in [
        &["run", "--wait", "5", "c", "printf", "%s|", "a", "-b"][..],
        &["run", "--wait", "5", "c", "--", "printf", "%s|", "a", "-b"],
        &["run", "c", "--", "printf", "%s|", "a", "-b"],
    ] {
        let out = ns.run(args);
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
        assert_eq!(stdout(&out), "a|-b|", "{args:?}: {}", describe(&out));
    }

    let file = ns.dir.path().join("p.lock");
    let file = file.to_str().unwrap();
    for args in [
        &[
            "run", "--path", file, "printf", "%s|", "a", "--path", "-c", "--", "-n",
        ][..],
        &[
            "run", "--path", file, "--", "printf", "%s|", "a", "--path", "-c", "--", "-n",
        ],
        &[
            "run", "-n", "--path", file, "printf", "%s|", "a", "--path", "-c", "--", "-n",
        ],
    ] {
        let out = ns.run(args);
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
        assert_eq!(
            stdout(&out),
            "a|--path|-c|--|-n|",
            "{args:?}: {}",
            describe(&out)
        );
    }
}

/// Between NAME and COMMAND there is no room for options (they go before NAME, as with
/// flock): an option word there is a usage error that says so, not a program to run; so is an
/// option interlock does not know before NAME (not a lock name).
#[test]
fn options_after_the_name_or_unknown_ones_are_usage_errors() {
    let ns = Ns::new();
    for (args, want) in [
        (
            &["run", "c", "--wait", "5", "true"][..],
            "'--wait' after the lock name",
        ),
        (
            &["run", "c", "--wait", "5", "--", "true"],
            "'--wait' after the lock name",
        ),
        (
            &["run", "c", "--frobnicate", "true"],
            "'--frobnicate' after the lock name",
        ),
        (
            &["run", "--frobnicate", "c", "true"],
            "unexpected argument '--frobnicate'",
        ),
        (&["run", "-x", "c", "true"], "unexpected argument '-x'"),
        (
            &["run", "--path", "/tmp/f", "-x", "true"],
            "unexpected argument '-x'",
        ),
    ] {
        let out = ns.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(stderr(&out).contains(want), "{args:?}: {}", describe(&out));
        assert!(!ns.ns_dir().join("--frobnicate").exists());
    }
}

/// `-c 'shell command'` runs it with `sh -c`, as `flock FILE -c 'shell command'` does; with
/// anything else after it, it is a usage error.
#[test]
fn dash_c_runs_a_shell_command() {
    let ns = Ns::new();
    let script = "echo \"one $INTERLOCK_PREVIOUS_OWNER_DIED\"; echo two >&2; exit 3";
    let out = ns.run(&["run", "c", "-c", script]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert_eq!(stdout(&out), "one 0\n", "{}", describe(&out));
    assert_eq!(stderr(&out), "two\n", "{}", describe(&out));

    let file = ns.dir.path().join("p.lock");
    let out = ns.run(&[
        "run",
        "--path",
        file.to_str().unwrap(),
        "--command",
        "echo via path",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "via path\n", "{}", describe(&out));

    // -c before NAME works too.
    let out = ns.run(&["run", "-c", "echo before", "c"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "before\n", "{}", describe(&out));

    for args in [
        &["run", "c", "-c", "echo x", "extra"][..],
        &["run", "c", "-c"],
        &["run", "-c", "echo x", "c", "extra"],
        &[
            "run",
            "--path",
            file.to_str().unwrap(),
            "-c",
            "echo x",
            "extra",
        ],
    ] {
        let out = ns.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(
            stdout(&out).is_empty(),
            "{args:?} ran something: {}",
            describe(&out)
        );
    }
}

/// `--verbose` says on stderr how long getting the lock took, as flock --verbose does; COMMAND's
/// output is untouched.
#[test]
fn verbose_reports_how_long_getting_the_lock_took() {
    let ns = Ns::new();
    let out = ns.run(&["run", "--verbose", "c", "echo", "ran"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "ran\n", "{}", describe(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    let secs = err
        .strip_prefix("interlock: getting lock \"c\" took ")
        .and_then(|rest| rest.strip_suffix(" seconds\n"))
        .unwrap_or_else(|| panic!("not the verbose line: {err:?}"));
    let (whole, frac) = secs.split_once('.').expect("seconds with a fraction");
    assert!(
        whole.parse::<u64>().is_ok() && frac.len() == 6 && frac.parse::<u64>().is_ok(),
        "{err:?}"
    );
}

/// Every `--wait` spelling is accepted: plain seconds (with fractions), `ms`, `s`, `m`, `h`,
/// `d`, and `inf`.
#[test]
fn wait_accepts_seconds_units_and_inf() {
    let ns = Ns::new();
    for wait in [
        "0", "2", "0.5", "1.5s", "500ms", "2m", "1h", "1d", "inf", ".5",
    ] {
        let out = ns.run(&["run", "--wait", wait, "c", "true"]);
        assert!(out.status.success(), "--wait {wait}: {}", describe(&out));
        let out = ns.run(&["run", &format!("--wait={wait}"), "c", "true"]);
        assert!(out.status.success(), "--wait={wait}: {}", describe(&out));
    }
}

/// A unit is honoured: `300ms` is 0.3 s, not 300 s.
#[test]
fn wait_in_milliseconds_times_out_after_that_many_milliseconds() {
    let ns = Ns::new();
    let holder = hold_until_released(&ns, "c");
    let (out, took) = timed(|| ns.run(&["run", "-w", "300ms", "c", "true"]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        took >= Duration::from_millis(300),
        "gave up early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(60),
        "300ms read as more: {took:?}"
    );
    let err = stderr(&out);
    assert!(err.contains("timed out after 0.3"), "{err}");
    assert!(err.contains(&format!("pid {}", holder.id())), "{err}");
    release(holder);
}

/// A bad `--wait` is a usage error: exit 2, one line that names the bad value.
#[test]
fn bad_wait_values_are_one_line_usage_errors_naming_the_value() {
    let ns = Ns::new();
    for bad in [
        "soon",
        "5x",
        "-1",
        "",
        "1.2.3",
        "ms",
        "nan",
        "1e3",
        "inf5",
        "5 s",
        "-inf",
        "+5",
        "99999999999999999999d",
    ] {
        let out = ns.run(&["run", &format!("--wait={bad}"), "c", "true"]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", describe(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{bad:?}: {err}");
        assert!(err.starts_with("interlock: "), "{bad:?}: {err}");
        assert!(err.contains(&format!("'{bad}'")), "{bad:?}: {err}");
        assert!(err.contains("--wait"), "{bad:?}: {err}");
    }
    // Also as a separate word, where clap might take "-1" for an option.
    let out = ns.run(&["run", "--wait", "-1", "c", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", describe(&out));
    assert!(stderr(&out).contains("'-1'"), "{}", describe(&out));
}

/// Starts `interlock run NAME -- sh -c 'echo held; read line'` and returns once it holds the
/// lock; it holds it until [`release`] writes a line to it, and then exits 0 (no signal: how a
/// killed holder's command is cleaned up is not what these tests are about).
fn hold_until_released(ns: &Ns, name: &str) -> Child {
    let mut holder = ns
        .cmd()
        .args(["run", name, "--", "sh", "-c", "echo held; read line"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "held\n", "the holder did not start");
    holder
}

fn release(mut holder: Child) {
    let mut stdin = holder.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    drop(stdin);
    let status = holder.wait().unwrap();
    assert!(status.success(), "the holder: {status:?}");
}

/// Starts `interlock run ARGS` with stdout and stderr piped.
fn spawn(ns: &Ns, args: &[&str]) -> Child {
    ns.cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A wait that goes past a second says so once on stderr, naming the holder: its pid, its
/// command and how long it has held the lock. The line itself is the handshake: the holder
/// holds until it is told to let go, and is told only once the waiter has said it waits; then
/// the waiter gets the lock and runs its command. Both long spellings (`2m`, `inf`) wait.
#[test]
fn a_wait_past_a_second_says_once_who_holds_the_lock() {
    let ns = Ns::new();
    for wait in ["2m", "inf"] {
        let holder = hold_until_released(&ns, "c");
        let mut waiter = spawn(&ns, &["run", "--wait", wait, "c", "echo", "ran"]);
        let mut err = BufReader::new(waiter.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        let want = format!(
            "interlock: waiting for lock \"c\", held by pid {} ",
            holder.id()
        );
        assert!(line.starts_with(&want), "--wait {wait}: {line:?}");
        assert!(
            line.contains("interlock run c -- sh -c echo held; read line`"),
            "no command in {line:?}"
        );
        let held_for = line
            .trim_end()
            .rsplit_once(" for ")
            .and_then(|(_, s)| s.strip_suffix('s'))
            .and_then(|s| s.parse::<f64>().ok());
        assert!(held_for.is_some_and(|s| s >= 1.0), "{line:?}");

        release(holder);
        let mut rest = String::new();
        err.read_to_string(&mut rest).unwrap();
        let out = waiter.wait_with_output().unwrap();
        assert!(out.status.success(), "{:?}\n{line}{rest}", out.status);
        assert_eq!(stdout(&out), "ran\n");
        assert!(!rest.contains("waiting for"), "said twice: {line}{rest}");
    }
}

/// A wait that ends before a second says nothing about waiting.
#[test]
fn a_short_wait_says_nothing_about_waiting() {
    let ns = Ns::new();
    let holder = hold_until_released(&ns, "c");
    let out = ns.run(&["run", "--verbose", "--wait", "0.2", "c", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        !stderr(&out).contains("interlock: waiting for"),
        "{}",
        describe(&out)
    );
    release(holder);
}
