//! Shell completions and the man page, generated from the same clap definition as `--help`.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::util::{describe, stdout, Ns};

const SUBCOMMANDS: [&str; 7] = ["run", "status", "list", "rm", "demo", "completions", "man"];

/// Says loudly that a test could not run; in CI that is a failure.
fn loud_skip(what: &str, why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what}: {why}, and CI must run this test (ci/install.sh installs it)"
    );
    eprintln!("\n!!!!!!!!!! SKIPPED ({why}): {what} !!!!!!!!!!\n");
}

/// Runs `program args` with `input` on stdin.
fn pipe(program: &str, args: &[&str], input: &str) -> Option<std::process::Output> {
    let mut child = Command::new(program)
        .args(args)
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    Some(child.wait_with_output().unwrap())
}

#[test]
fn completions_for_each_shell_name_every_subcommand() {
    let ns = Ns::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = ns.run(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", describe(&out));
        let script = stdout(&out);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completions lack {sub}");
        }
        assert!(
            script.contains("--wait"),
            "{shell} completions lack run's --wait"
        );
        assert!(
            !script.contains("demo-worker"),
            "{shell} completions offer the internal demo-worker"
        );
    }
    // The bash script is valid bash.
    let out = ns.run(&["completions", "bash"]);
    let check = pipe("bash", &["-n"], &stdout(&out)).expect("bash runs");
    assert!(check.status.success(), "bash -n: {}", describe(&check));
    let out = ns.run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

#[test]
fn man_page_covers_every_subcommand_and_groff_reads_it() {
    let ns = Ns::new();
    let out = ns.run(&["man"]);
    assert!(out.status.success(), "{}", describe(&out));
    let page = stdout(&out);
    assert!(
        page.lines().any(|l| l.starts_with(".TH interlock 1")),
        "no title line in {}",
        &page[..300.min(page.len())]
    );
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!("interlock {sub}")),
            "the page has no section for {sub}"
        );
    }
    for option in [
        "\\-\\-wait",
        "\\-\\-no\\-wait",
        "\\-\\-path",
        "\\-\\-verbose",
    ] {
        assert!(page.contains(option), "the page lacks {option}");
    }
    assert!(!page.contains("demo-worker") && !page.contains("demo\\-worker"));

    // groff parses it without a warning (-k: UTF-8 input through preconv, as man does; -ww:
    // all warnings; -z: no output).
    match pipe("groff", &["-k", "-man", "-Tutf8", "-ww", "-z"], &page) {
        Some(out) => {
            assert!(out.status.success(), "groff: {}", describe(&out));
            assert!(out.stderr.is_empty(), "groff warns: {}", describe(&out));
        }
        None => loud_skip("groff parses the man page", "groff is not installed"),
    }
    // And man renders it, as a user would read it.
    match pipe("man", &["-l", "-"], &page) {
        Some(out) => {
            assert!(out.status.success(), "man -l: {}", describe(&out));
            let text = stdout(&out);
            assert!(text.contains("interlock run"), "{text}");
            assert!(
                text.contains("EXIT STATUS") || text.contains("Exit codes"),
                "{text}"
            );
        }
        None => loud_skip("man renders the man page", "man is not installed"),
    }
}

/// Issue 12: user-facing text speaks of the multiprocessing counter example, not of "the seed"
/// (the project's name for the Python example it started from).
#[test]
fn help_and_man_page_use_no_project_jargon() {
    let ns = Ns::new();
    let mut texts = Vec::new();
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["status", "--help"],
        &["list", "--help"],
        &["rm", "--help"],
        &["demo", "--help"],
        &["demo", "counter", "--help"],
        &["demo", "rlock", "--help"],
        &["completions", "--help"],
        &["man", "--help"],
        &["man"],
    ] {
        let out = ns.run(args);
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
        texts.push((args, stdout(&out)));
    }
    for (args, text) in &texts {
        assert!(
            !text.to_lowercase().contains("seed"),
            "{args:?} speaks of the seed:\n{text}"
        );
    }
    let demo = &texts[6].1;
    assert!(demo.contains("multiprocessing counter example"), "{demo}");
}
