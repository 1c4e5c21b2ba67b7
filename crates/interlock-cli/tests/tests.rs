//! CLI integration tests: the real `interlock` binary, real processes and signals.

// Helpers: a private namespace per test, spawning the binary.
mod util;

// `interlock run`: exclusion, waiting, conflicts, exit statuses, a killed runner.
mod run;

// `interlock status`, `list`, `rm` and their JSON.
mod status;

// `interlock demo`: the multiprocessing examples, run by interlock.
mod demo;

// Usage errors and bad input.
mod errors;

// flock(1) users' habits: no `--`, `-c`, `--verbose`, `--wait` units, who holds it (issue 12).
mod habits;

// Shell completions and the man page, from the clap definition (issue 12).
mod generated;

// `run --path` on any file, side by side with flock(1).
mod flock;

// `interlock run` and COMMAND's process tree: orphans, signals, error messages (issue 12).
mod run_tree;

// `interlock event` and `interlock barrier` (issue 15).
mod event;

// `status` and `list` of a semaphore (`run --slots`): every permit (issue 15).
mod semaphore;

// `run --shared`: readers of an RwLock, a writer alone, flock -s on a path (issue 15).
mod rwlock;

// A `Value` of the user's own type in a crate without a bytemuck dependency (issue 15).
mod value_derive;

// A Condition in `status`, `list` and `status --json` (issue 15).
mod condition;

// `run`, `status` and `list` with --etcd, against real etcd members (issue 16).
mod etcd;
