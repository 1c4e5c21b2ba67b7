//! Uncontended lock+unlock in one thread: interlock's `Lock` beside its raw peers in one group
//! (a bare futex mutex, glibc's process-shared mutex plain and robust), and `RLock` taken
//! fresh and re-entered.
//!
//! `cargo bench -p interlock-bench --bench uncontended`
#![allow(missing_docs)] // criterion_group! defines an undocumented `pub fn benches`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use interlock_bench::peers::{Competitor, Futex, Pthread, PthreadRobust};

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("uncontended lock+unlock");

    let futex = Futex::create().unwrap();
    g.bench_function("futex (bare, lower bound)", |b| {
        b.iter(|| futex.lock(|| black_box(())))
    });

    let pthread = Pthread::create().unwrap();
    g.bench_function("pthread (process-shared)", |b| {
        b.iter(|| pthread.lock(|| black_box(())))
    });

    let robust = PthreadRobust::create().unwrap();
    g.bench_function("pthread-robust (process-shared)", |b| {
        b.iter(|| robust.lock(|| black_box(())))
    });

    let lock = interlock::Lock::new().unwrap();
    g.bench_function("interlock::Lock", |b| {
        b.iter(|| drop(black_box(lock.lock().unwrap())))
    });

    let rlock = interlock::RLock::new().unwrap();
    g.bench_function("interlock::RLock", |b| {
        b.iter(|| drop(black_box(rlock.lock().unwrap())))
    });

    let outer = rlock.lock().unwrap();
    g.bench_function("interlock::RLock re-entry (depth 2)", |b| {
        b.iter(|| drop(black_box(rlock.lock().unwrap())))
    });
    drop(outer);

    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = uncontended
}
criterion_main!(benches);
