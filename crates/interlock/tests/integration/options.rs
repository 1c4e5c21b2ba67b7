//! The one builder (`Options`): every handle made or found from every source — anonymous, by
//! name, at a path, handed to a spawned program — with its settings, and its own settings
//! checked before anything is created.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{in_private_namespace, role, role_command, RoleChild};
use interlock::{Error, Kind, Lock, LockTable, Options, Primitive, RLock, SegmentFault, Value};

/// Takes `handle`'s lock (through `take`) and says whether its holder record carries a time.
fn stamped<H>(handle: &H, take: impl Fn(&H) -> interlock::LockStatus) -> bool {
    take(handle).holder.expect("held").since.is_some()
}

/// Makes `options` three ways (anonymous, by name, at a path under `dir`) and checks each
/// handle with `check`; the named one twice, the second handle seeing the first's
/// acquisitions through `acquisitions`.
fn every_source<P: Primitive>(
    dir: &Path,
    name: &str,
    options: Options<P>,
    check: impl Fn(&P),
    acquisitions: impl Fn(&P) -> u64,
) {
    check(&options.create().expect("create"));
    let named = options.open(name).expect("open");
    check(&named);
    assert_eq!(
        acquisitions(&options.open(name).expect("open again")),
        acquisitions(&named),
        "{name}: two opens of one name are one lock"
    );
    check(&options.open_path(dir.join(name)).expect("open_path"));
}

/// `timestamps(true)` holds for every handle from every source: the builder's settings reach
/// the handle whichever way it was made.
#[test]
fn every_handle_from_every_source_keeps_the_builders_settings() {
    in_private_namespace(|dir| {
        every_source(
            dir,
            "opt-lock",
            Lock::options().timestamps(true),
            |l| assert!(stamped(l, |l| (l.lock().unwrap(), l.status()).1)),
            |l| l.status().acquisitions,
        );
        every_source(
            dir,
            "opt-fair",
            Lock::options().fair(true).timestamps(true),
            |l| {
                assert!(l.is_fair());
                assert!(stamped(l, |l| (l.lock().unwrap(), l.status()).1));
            },
            |l| l.status().acquisitions,
        );
        every_source(
            dir,
            "opt-rlock",
            RLock::options().fair(true).timestamps(true),
            |l| {
                assert_eq!(l.status().kind, Kind::FairRLock);
                assert!(stamped(l, |l| (l.lock().unwrap(), l.status()).1));
            },
            |l| l.status().acquisitions,
        );
        every_source(
            dir,
            "opt-table",
            LockTable::options().len(3).timestamps(true),
            |t| {
                assert_eq!(t.len(), 3);
                assert!(t
                    .iter()
                    .all(|l| stamped(l, |l| (l.lock().unwrap(), l.status()).1)));
            },
            |t| t[2].status().acquisitions,
        );
        every_source(
            dir,
            "opt-value",
            Value::options().initial(7u64).timestamps(true),
            |v| {
                assert_eq!(v.get().unwrap() % 7, 0);
                assert!(stamped(v, |v| (v.lock().unwrap(), v.status()).1));
                v.update(|n| *n += 7).unwrap();
            },
            |v| v.status().acquisitions,
        );
    });
}

/// A table's length and a value's type are checked before anything is created: no file by
/// name or at a path, whatever the source.
#[test]
fn a_handles_own_settings_are_checked_before_anything_is_created() {
    in_private_namespace(|dir| {
        let table_size = |r: Result<LockTable, Error>| match r {
            Err(Error::TableSize { reason, .. }) => reason,
            other => panic!("expected TableSize, got {other:?}"),
        };
        let missing = table_size(LockTable::options().create());
        assert!(missing.contains("Options::len"), "{missing}");
        table_size(LockTable::options().open("no-length"));
        table_size(LockTable::options().open_path(dir.join("no-length-at-a-path")));
        table_size(LockTable::options().len(0).open("zero"));
        assert!(matches!(
            Value::<()>::options().open("unit"),
            Err(Error::ValueTypeSize { size: 0, .. })
        ));
        let files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(files.is_empty(), "created before the check: {files:?}");
    });
}

/// `mode` gives a lock file at a path exactly its permission bits; a named lock stays private
/// whatever the mode.
#[test]
fn mode_sets_a_lock_files_bits_and_names_stay_private() {
    in_private_namespace(|dir| {
        let scratch = tempfile::tempdir().unwrap();
        let path = scratch.path().join("group.lock");
        Lock::options().mode(0o640).open_path(&path).unwrap();
        let bits = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(bits(&path), 0o640);
        Lock::options().mode(0o666).open("still-private").unwrap();
        assert_eq!(bits(&dir.join("still-private.lock")), 0o600);
    });
}

const LOCK_VAR: &str = "INTERLOCK_TEST_OPT_LOCK";
const TABLE_VAR: &str = "INTERLOCK_TEST_OPT_TABLE";
const VALUE_VAR: &str = "INTERLOCK_TEST_OPT_VALUE";
const FAIR_VAR: &str = "INTERLOCK_TEST_OPT_FAIR";

/// A spawned program adopts every handle through the builder: with its settings, with a size
/// it checks (a table's length, a value's type) or takes as passed, and with fairness asked
/// for only where the lock is fair.
#[test]
fn a_spawned_program_adopts_every_handle_through_the_builder() {
    if role().as_deref() == Some("opt-adopter") {
        let lock = Lock::options()
            .timestamps(true)
            .from_env(LOCK_VAR)
            .expect("Lock");
        assert!(stamped(&lock, |l| (l.lock().unwrap(), l.status()).1));
        assert_eq!(LockTable::from_env(TABLE_VAR).expect("any length").len(), 8);
        assert_eq!(
            LockTable::options()
                .len(8)
                .from_env(TABLE_VAR)
                .expect("len 8")
                .len(),
            8
        );
        match LockTable::options().len(9).from_env(TABLE_VAR) {
            Err(Error::TableSize { reason, .. }) => {
                assert!(reason.contains("8 locks, not 9"), "{reason}")
            }
            other => panic!("expected TableSize, got {other:?}"),
        }
        assert_eq!(
            Value::<u64>::from_env(VALUE_VAR).unwrap().get().unwrap(),
            42
        );
        assert!(matches!(
            Value::<u32>::from_env(VALUE_VAR),
            Err(Error::ValueSize {
                expected: 4,
                found: 8,
                ..
            })
        ));
        assert!(RLock::options()
            .fair(true)
            .from_env(FAIR_VAR)
            .expect("fair RLock")
            .is_fair());
        assert!(matches!(
            Lock::options().fair(true).from_env(LOCK_VAR),
            Err(Error::KindMismatch {
                expected: Kind::FairLock,
                found: Kind::Lock,
                ..
            })
        ));
        return;
    }
    let lock = Lock::new().unwrap();
    let table = LockTable::new(8).unwrap();
    let value = Value::new(42u64).unwrap();
    let fair = RLock::options().fair(true).create().unwrap();
    let mut cmd = role_command("opt-adopter");
    lock.pass_to(&mut cmd, LOCK_VAR).unwrap();
    table.pass_to(&mut cmd, TABLE_VAR).unwrap();
    value.pass_to(&mut cmd, VALUE_VAR).unwrap();
    fair.pass_to(&mut cmd, FAIR_VAR).unwrap();
    RoleChild::spawn(cmd).finish();
    assert_eq!(
        lock.status().acquisitions,
        1,
        "the child took the parent's lock"
    );
}

/// The namespace's wait registry is interlock's own file, not a handle: opened as a lock,
/// inspected or removed at its path, it is refused as such — and left alone.
#[test]
fn the_wait_registry_is_no_handle() {
    in_private_namespace(|dir| {
        interlock::deadlock::wait_graph().unwrap();
        let registry = dir.join(".wait-registry");
        assert!(registry.exists(), "wait_graph creates the registry");
        let internal = |what: &str, e: Error| match e {
            Error::BadSegment {
                fault: SegmentFault::Internal(_),
                ..
            } => {}
            other => panic!("{what}: expected BadSegment(Internal), got {other:?}"),
        };
        internal("Lock", Lock::open_path(&registry, 0o600).unwrap_err());
        internal("status", interlock::path::status(&registry).unwrap_err());
        internal(
            "remove",
            interlock::path::remove_unheld(&registry).unwrap_err(),
        );
        assert!(registry.exists(), "the registry was left");
    });
}
