//! CLI integration tests: the real `interlock` binary, real processes and signals.

// Helpers: a private namespace per test, spawning the binary.
mod util;

// `interlock run`: exclusion, waiting, conflicts, exit statuses, a killed runner.
mod run;

// `interlock status`, `list`, `rm` and their JSON.
mod status;

// `interlock demo`: the seed's programs.
mod demo;

// Usage errors and bad input.
mod errors;

// `interlock run` and COMMAND's process tree: orphans, signals, error messages (issue 12).
mod run_tree;
