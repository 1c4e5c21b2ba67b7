//! The README's promise for `Value`: a crate that depends on `interlock-ipc` alone derives the
//! traits a `Value` needs. This crate (the CLI) is the workspace's one crate without a bytemuck
//! dependency, so `::bytemuck` does not resolve here: without
//! `#[bytemuck(crate = "interlock::bytemuck")]` these derives would not compile.

use interlock::{CheckedBitPattern, NoUninit, Pod, Value, Zeroable};

#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[bytemuck(crate = "interlock::bytemuck")]
#[repr(C)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, NoUninit, CheckedBitPattern)]
#[bytemuck(crate = "interlock::bytemuck")]
#[repr(u8)]
enum Phase {
    Idle,
    Running,
}

#[test]
fn a_crate_without_bytemuck_derives_what_a_value_needs() {
    let p = Value::new(Point { x: 1, y: 2 }).unwrap();
    p.lock().unwrap().y += 40;
    assert_eq!(p.get().unwrap(), Point { x: 1, y: 42 });

    let phase = Value::<Phase>::options().create().unwrap(); // zero bytes: Idle
    assert_eq!(phase.get().unwrap(), Phase::Idle);
    phase.set(Phase::Running).unwrap();
    assert_eq!(phase.get().unwrap(), Phase::Running);

    let ready = Value::new(false).unwrap();
    *ready.lock().unwrap() = true;
    assert!(ready.get().unwrap());
}
