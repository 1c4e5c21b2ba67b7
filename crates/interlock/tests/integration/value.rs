//! `Value<T>` between real processes: exact counts, no torn value after SIGKILL, panics that
//! neither wedge nor commit, sizes refused before anything is created, bounded waits.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{fork, SharedMem};
use interlock::{Error, Value, MAX_VALUE_SIZE};

/// The case: 8 processes × 100,000 `update`s of one shared counter → exactly 800,000.
#[test]
fn eight_processes_update_a_shared_value_exactly() {
    const PROCS: u64 = 8;
    const UPDATES: u64 = 100_000;
    let counter = Value::new(0u64).unwrap();
    let mut children: Vec<_> = (0..PROCS)
        .map(|_| {
            let counter = &counter;
            fork(move || {
                for _ in 0..UPDATES {
                    counter.update(|n| *n += 1).expect("update");
                }
            })
        })
        .collect();
    for child in &mut children {
        assert_eq!(child.wait(), 0, "an updater failed");
    }
    assert_eq!(counter.get().unwrap(), PROCS * UPDATES);
    assert_eq!(counter.status().acquisitions, PROCS * UPDATES + 1);
}

/// Writers that set all 4,096 words of a value (32 KiB: copying it in takes long enough for a
/// kill to land inside) to one number, SIGKILLed at random: the value read afterwards is always
/// one writer's whole value (the two-slot commit), and the next update is told its predecessor
/// died.
#[test]
fn sigkilled_updaters_never_leave_a_torn_value() {
    let value = Value::new([0u64; 4096]).unwrap();
    let progress = SharedMem::new(1);
    let mut deaths_seen = false;
    for round in 0..20u64 {
        let child = fork(|| loop {
            value
                .update(|v| {
                    let next = v[0] + 1;
                    v.iter_mut().for_each(|word| *word = next);
                })
                .expect("update");
            progress
                .slot(0)
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        common::wait_until("the updater makes progress", || {
            progress.slot(0).load(std::sync::atomic::Ordering::Relaxed) > round * 10 + 10
        });
        std::thread::sleep(Duration::from_micros(300));
        child.kill(libc::SIGKILL);
        let (v, died) = value.update_checked(|v| *v).unwrap();
        deaths_seen |= died;
        assert!(
            v.iter().all(|&w| w == v[0]),
            "torn value after SIGKILL: {v:?}"
        );
    }
    assert!(
        deaths_seen,
        "20 kills of a tight update loop never caught it inside the lock"
    );
}

/// Issue 11 item 7: a panic inside `update` on another thread. The lock must end up free (not
/// left held by the panicking thread), poisoned, with the old value — the panicking update
/// commits nothing — and the thread that panicked can use the value again (it used to get
/// `WouldDeadlock`; every other thread blocked for ever).
#[test]
fn a_panicking_update_in_a_thread_leaves_the_old_value_free_and_poisoned() {
    let value = Value::new(7u64).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                value.update(|n| {
                    *n = 99;
                    panic!("the update fails half-way");
                })
            }));
            assert!(caught.is_err(), "the closure's panic reaches the caller");
            let status = value.status();
            assert!(
                status.holder.is_none(),
                "after the panic the panicking thread still holds the value: {status:?}"
            );
            // The same thread again: the value, unchanged, and no WouldDeadlock.
            assert_eq!(value.update(|n| *n).expect("update after the panic"), 7);
        })
        .join()
        .expect("the panicking thread's checks");
    });
    let status = value.status();
    assert!(status.holder.is_none(), "the lock is free: {status:?}");
    assert!(
        status.poisoned,
        "a panic in the section poisons: {status:?}"
    );
    assert_eq!(value.get().unwrap(), 7, "the panicking update committed");
    value.update(|n| *n += 1).unwrap();
    assert_eq!(value.get().unwrap(), 8);
}

/// Issue 11 item 7, across processes: a forked child's update panics and the child *goes on
/// living* (it catches the panic), so the kernel's robust list cannot be what frees the lock. The
/// parent must find it free, poisoned, the old value in place, and be able to update it while
/// the child is still alive.
#[test]
fn a_panicking_update_in_another_process_leaves_the_old_value_free_and_poisoned() {
    let value = Value::new(7u64).unwrap();
    let (to_parent, from_child) = common::channel();
    let (to_child, from_parent) = common::channel();
    let child = fork(|| {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            value.update(|n| {
                *n = 99;
                panic!("the update fails half-way");
            })
        }));
        assert!(caught.is_err(), "the closure's panic reaches the caller");
        to_parent.send("panicked");
        from_parent.expect("checked");
        assert_eq!(value.update(|n| *n).expect("child's update"), 8);
    });
    from_child.expect("panicked");
    let status = value.status();
    assert!(
        status.holder.is_none(),
        "a live process whose update panicked still holds the value: {status:?}"
    );
    assert!(
        status.poisoned,
        "a panic in the section poisons: {status:?}"
    );
    assert_eq!(value.get().unwrap(), 7, "the panicking update committed");
    value.update(|n| *n += 1).unwrap();
    to_child.send("checked");
    child.join();
}

/// A type one word over [`MAX_VALUE_SIZE`] (bytemuck has no `Pod` for arrays of every length).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
struct OverLimit {
    mib: [[u64; 4096]; 32],
    one_more: u64,
}

/// The files in `dir`, for messages: nothing may be left behind.
fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// Asserts that `result` is the typed size error for a type of `size` bytes.
fn assert_type_size<T>(result: Result<Value<T>, Error>, size: usize) {
    match result {
        Err(Error::ValueTypeSize {
            size: found, limit, ..
        }) => {
            assert_eq!((found, limit), (size, MAX_VALUE_SIZE));
        }
        Err(other) => panic!("expected ValueTypeSize for {size} bytes, got {other}"),
        Ok(_) => panic!("a Value of {size} bytes was created"),
    }
}

/// Issue 11 item 7: `Value::new(())` panicked (and `open` left its temporary file in the
/// namespace). A zero-sized type is now a typed error from every constructor, before anything
/// is created.
#[test]
fn a_zero_sized_value_is_refused_before_anything_is_created() {
    assert_type_size(Value::new(()), 0);
    common::in_private_namespace(|ns| {
        assert_type_size(Value::open("unit", ()), 0);
        assert_eq!(files_in(ns), Vec::<String>::new(), "left in the namespace");
        let dir = tempfile::tempdir().expect("tempdir");
        assert_type_size(Value::open_path(dir.path().join("unit"), 0o600, ()), 0);
        assert_eq!(
            files_in(dir.path()),
            Vec::<String>::new(),
            "left beside the path"
        );
    });
}

/// Issue 11 item 7: a value over 1 MiB was written and published, and the file then failed its
/// own header check for every opener: the name was blocked for good. Now a typed error naming
/// the size and the limit, before anything is created; the name stays usable.
#[test]
fn an_oversized_value_is_refused_before_anything_is_created() {
    let size = std::mem::size_of::<OverLimit>();
    assert!(size > MAX_VALUE_SIZE);
    common::in_private_namespace(|ns| {
        // A thread with room for a few copies of a 1 MiB argument on its stack.
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || {
                let big: OverLimit = bytemuck::Zeroable::zeroed();
                let err = Value::open("big", big).map(|_| ()).unwrap_err();
                let text = err.to_string();
                assert!(
                    text.contains(&size.to_string()) && text.contains(&MAX_VALUE_SIZE.to_string()),
                    "the message names the size and the limit: {text}"
                );
                assert_type_size(Value::open("big", big), size);
                assert_type_size(Value::new(big), size);
                let dir = tempfile::tempdir().expect("tempdir");
                assert_type_size(Value::open_path(dir.path().join("big"), 0o600, big), size);
                assert_eq!(
                    files_in(dir.path()),
                    Vec::<String>::new(),
                    "left beside the path"
                );
            })
            .expect("spawn")
            .join()
            .expect("the oversized checks");
        assert_eq!(files_in(ns), Vec::<String>::new(), "left in the namespace");
        // The name was not taken by a corrupt file.
        let fine = Value::open("big", 1u64).expect("the name is still usable");
        assert_eq!(fine.get().unwrap(), 1);
    });
}

/// Issue 11 item 7: a caller can bound its wait on a value held by another process. The timed
/// get, the timed update and `try_lock_for` give up with the holder named; the update's closure
/// never runs; once the holder lets go, the same calls succeed.
#[test]
fn timed_waits_on_a_value_held_by_another_process_time_out() {
    let value = Value::new(1u64).unwrap();
    let (to_parent, from_child) = common::channel();
    let (to_child, from_parent) = common::channel();
    let child = fork(|| {
        let guard = value.lock().expect("lock");
        to_parent.send("holding");
        from_parent.expect("release");
        drop(guard);
        to_parent.send("released");
        from_parent.expect("done");
    });
    from_child.expect("holding");
    let short = Duration::from_millis(30);
    match value.get_timeout(short) {
        Err(Error::Timeout {
            holder: Some(h), ..
        }) => assert_eq!(h.pid, child.pid(), "the holder named"),
        other => panic!("expected a Timeout naming the child, got {other:?}"),
    }
    let mut ran = false;
    match value.update_timeout(short, |n| {
        ran = true;
        *n += 1;
    }) {
        Err(Error::Timeout { .. }) => {}
        other => panic!("expected a Timeout, got {other:?}"),
    }
    assert!(!ran, "the update ran without the lock");
    assert!(value.try_lock_for(short).unwrap().is_none());
    to_child.send("release");
    from_child.expect("released");
    assert_eq!(value.get_timeout(common::PATIENCE).unwrap(), 1);
    value.update_timeout(common::PATIENCE, |n| *n += 1).unwrap();
    assert_eq!(*value.try_lock_for(common::PATIENCE).unwrap().unwrap(), 2);
    to_child.send("done");
    child.join();
}

/// A guard that commits on drop must not commit from a forked copy: the parent holds the value,
/// the child writes through its copy of the guard and drops it — nothing is committed (the
/// child does not hold the lock) and the parent's hold is untouched.
#[test]
fn a_forked_copy_of_a_guard_commits_nothing() {
    let value = Value::new(7u64).unwrap();
    let guard = std::cell::Cell::new(Some(value.lock().unwrap()));
    let child = fork(|| {
        let mut copy = guard.take().expect("the child's copy of the guard");
        *copy = 666;
        assert!(
            matches!(copy.unlock(), Err(Error::NotOwner { .. })),
            "the copy's hold is not the child's"
        );
        assert!(
            value.try_lock().expect("try_lock").is_none(),
            "the parent still holds the value"
        );
    });
    child.join();
    let holder = value.status().holder.expect("still held");
    assert_eq!(holder.pid, std::process::id());
    drop(guard.take());
    assert_eq!(value.get().unwrap(), 7, "the forked copy committed");
}

/// Issue 15: `Value::new(false)` used to fail to compile (bool is not `Pod`). Four processes
/// toggle one shared `Value<bool>` through the guard, each counting the toggles that found it
/// `false`. Serial toggles from `false` alternate, so exactly half of all toggles found
/// `false` and the value ends `false`: two toggles that overlapped (both finding `false`)
/// would break the count.
#[test]
fn four_processes_toggle_a_shared_bool_exactly() {
    const PROCS: usize = 4;
    const TOGGLES: u64 = 20_000;
    let flag = Value::new(false).unwrap();
    let saw_false = SharedMem::new(PROCS);
    let gang = interlock_testkit::Gang::fork(PROCS, |i| {
        let mut found_false = 0;
        for _ in 0..TOGGLES {
            let mut g = flag.lock().expect("lock");
            if !*g {
                found_false += 1;
            }
            *g = !*g;
        }
        saw_false
            .slot(i)
            .store(found_false, std::sync::atomic::Ordering::Relaxed);
    });
    gang.start();
    gang.join();
    let total: u64 = (0..PROCS)
        .map(|i| saw_false.slot(i).load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert_eq!(
        total,
        PROCS as u64 * TOGGLES / 2,
        "toggles that found false"
    );
    assert!(
        !flag.get().unwrap(),
        "an even number of toggles ends where it began"
    );
    assert_eq!(flag.status().acquisitions, PROCS as u64 * TOGGLES + 1);
}

/// Bytes that are no valid `T` — here a `Value<u8>` under the same path writing 2 into what
/// another process reads as a `Value<bool>` — are a typed error from every read, in every
/// process, never undefined behaviour; the lock is left free and unpoisoned, and `set` (which
/// reads nothing) repairs the value.
#[test]
fn foreign_bytes_in_a_bool_are_a_typed_error_and_set_repairs_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flag");
    let flag = Value::open_path(&path, 0o600, false).unwrap();
    let byte = Value::<u8>::open_path(&path, 0o600, 0).unwrap();
    byte.set(2).unwrap();
    let child = fork(|| {
        assert_bytes_error(flag.get(), "bool");
        assert_bytes_error(flag.lock().map(|g| *g), "bool");
    });
    child.join();
    assert_bytes_error(flag.update(|b| *b = !*b), "bool");
    assert_bytes_error(flag.try_lock().map(|g| g.map(|g| *g)), "bool");
    assert_bytes_error(flag.get_timeout(Duration::from_secs(5)), "bool");
    let status = flag.status();
    assert!(
        status.holder.is_none(),
        "a failed read holds nothing: {status:?}"
    );
    assert!(
        !status.poisoned,
        "a failed read changed nothing: {status:?}"
    );
    assert_eq!(byte.get().unwrap(), 2, "and wrote nothing");
    flag.set(true).unwrap();
    assert!(flag.get().unwrap());
    assert_eq!(byte.get().unwrap(), 1);
}

/// A corrupt byte in the segment file itself (another program writing into it): a `char` that
/// is no Unicode scalar value is [`Error::ValueBytes`], naming the path and the type.
#[test]
fn a_corrupt_char_in_the_segment_file_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("letter");
    let letter = Value::open_path(&path, 0o600, '\u{10FFFF}').unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let marker = u32::from('\u{10FFFF}').to_ne_bytes();
    let at = bytes
        .windows(4)
        .position(|w| w == marker)
        .expect("the value's bytes in the file");
    bytes[at + 2] = 0xFF; // 0x00FFFFFF: above char::MAX
    std::fs::write(&path, &bytes).unwrap();
    match letter.get() {
        Err(Error::ValueBytes { what, type_name }) => {
            assert_eq!(type_name, "char");
            assert!(what.contains("letter"), "the path is named: {what}");
        }
        other => panic!("expected ValueBytes, got {other:?}"),
    }
    letter.set('x').unwrap();
    assert_eq!(letter.get().unwrap(), 'x');
}

/// A fieldless enum (deriving interlock's re-exported `NoUninit` and `CheckedBitPattern`, no
/// bytemuck dependency named): a value other processes move through its states; a new value of
/// an enum without a variant 0 needs an initial value (its zero bytes are none).
#[test]
fn a_fieldless_enum_is_shared_and_needs_an_initial_value_without_a_zero_variant() {
    #[derive(Clone, Copy, Debug, PartialEq, interlock::NoUninit, interlock::CheckedBitPattern)]
    #[bytemuck(crate = "interlock::bytemuck")]
    #[repr(u8)]
    enum Phase {
        Idle = 1,
        Running = 2,
        Done = 3,
    }
    match Value::<Phase>::options().create() {
        Err(Error::ValueInitial { type_name }) => assert!(type_name.ends_with("Phase")),
        other => panic!("expected ValueInitial, got {other:?}"),
    }
    let phase = Value::new(Phase::Idle).unwrap();
    let child = fork(|| {
        phase
            .update(|p| {
                assert_eq!(*p, Phase::Idle);
                *p = Phase::Running;
            })
            .expect("update");
        phase.set(Phase::Done).expect("set");
    });
    child.join();
    assert_eq!(phase.get().unwrap(), Phase::Done);
    // A zero default is fine for a type whose zero bytes are a value.
    assert!(!Value::<bool>::options().create().unwrap().get().unwrap());
}

/// Asserts that `result` is [`Error::ValueBytes`] for `type_name`.
fn assert_bytes_error<R: std::fmt::Debug>(result: Result<R, Error>, type_name: &str) {
    match result {
        Err(Error::ValueBytes { type_name: t, .. }) => assert_eq!(t, type_name),
        other => panic!("expected ValueBytes for {type_name}, got {other:?}"),
    }
}
