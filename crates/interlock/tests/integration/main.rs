//! The library's integration tests, one binary: real processes (forked, or this binary re-run in
//! a child role), real SIGKILLs, real files (STYLE.md §6). One module per area; a test's name is
//! `module::test`, and a test that re-runs this binary for a child role asks for that full name.
//!
//! ci/test.sh runs them with nextest, one process per test, the multi-process ones one at a time
//! (.config/nextest.toml), then again with `TMPDIR=/dev/shm`, then in release.

#[macro_use]
mod common; // helpers: forks, pipes, child roles, namespaces, flavours of lock (`each_flavor!`)

mod bad_input; // bad names, unsafe paths, files that are not our locks: each refused clearly
mod barrier; // `Barrier`: generations exact; a party SIGKILLed breaks it for the others, named
mod condition; // `Condition`: producers/consumers, notify one/all, SIGKILLed waiters and notifiers
mod crash; // holders SIGKILLed, `_exit`ing, panicking: the next owner is told, promptly
mod deadlock; // lock-order cycles across processes: exactly one member gets `Error::Deadlock`
mod descriptor; // `try_clone_fd` / `from_fd`: a descriptor sent over a socket and adopted; foreign ones refused
mod event; // `Event`: set releases every waiter; waiters SIGKILLed at random leave nothing
mod fair; // fair locks hand a release to the longest sleeper
mod fast_path; // the uncontended paths keep every rule of the full ones
mod file_lock; // `FileLock`: any file, side by side with flock(2) users
mod fork; // locks shared through `fork`: exclusion between processes and their threads
mod fork_setup; // forking during another thread's first lock (defines `pthread_atfork`)
mod hostile_matrix; // issue 18: every path interlock opens × every planted thing × ext4/tmpfs; a second user
mod limits; // issue 18: a full or read-only file system, a small address space, the descriptor limit, 5,000 named locks: clear errors, no leaks
mod log; // `LogWriter`: whole lines from many processes, none mixed or lost
mod named; // named locks: meeting by name, listing, inspecting, removing
mod options; // the one builder: every handle from every source, with its settings
mod pid_reuse; // a reused pid does not hide a dead holder; a live holder is never dead
mod process_group; // `spawn_group` in a program with other threads
mod rlock; // `RLock` across processes and threads
mod rwlock; // `RwLock`: readers never see a write half done; killed readers and writers told
mod semaphore; // `Semaphore`: at most N holders, permits of killed holders come back told
mod semaphore_status; // a semaphore's status: every permit's holder, by handle, name and path
mod shared_file; // `SharedFile` under random SIGKILLs, and against a hostile user
mod spawn; // `pass_to` / `from_env`: the lock handed to spawned programs
mod table; // `LockTable`: many locks in one segment
mod trust; // issue 11: neighbours, pid namespaces, robust-list limits, signal handlers
mod unreported; // holders whose death the kernel does not report
mod value; // `Value<T>` between real processes
