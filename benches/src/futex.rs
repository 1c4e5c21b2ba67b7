//! The lower bound: a bare futex mutex shared between processes — std's three-state futex mutex
//! (`library/std/src/sys/sync/mutex/futex.rs`) with a shared futex, no owner, no robustness.

use std::sync::atomic::{AtomicU32, Ordering};

use rustix::thread::futex;

/// Nobody holds it.
const UNLOCKED: u32 = 0;
/// Held, nobody sleeps.
const LOCKED: u32 = 1;
/// Held, somebody may sleep: unlock must wake.
const CONTENDED: u32 = 2;

/// std's futex mutex, process-shared (never `FUTEX_PRIVATE_FLAG`). Zero is unlocked, so it can
/// live in zeroed shared memory.
#[derive(Debug, Default)]
#[repr(transparent)]
pub struct FutexMutex {
    /// `UNLOCKED`, `LOCKED` or `CONTENDED`.
    state: AtomicU32,
}

impl FutexMutex {
    /// A free mutex.
    pub const fn new() -> FutexMutex {
        FutexMutex {
            state: AtomicU32::new(UNLOCKED),
        }
    }

    /// Takes the mutex: one compare-exchange when free.
    #[inline]
    pub fn lock(&self) {
        if self
            .state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut state = self.spin();
        if state == UNLOCKED {
            match self.state.compare_exchange(
                UNLOCKED,
                LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(s) => state = s,
            }
        }
        loop {
            // Take it as CONTENDED: we do not know whether others sleep.
            if state != CONTENDED && self.state.swap(CONTENDED, Ordering::Acquire) == UNLOCKED {
                return;
            }
            // EAGAIN (the word changed) and EINTR just mean "look again".
            let _ = futex::wait(&self.state, futex::Flags::empty(), CONTENDED, None);
            state = self.spin();
        }
    }

    fn spin(&self) -> u32 {
        let mut spin = 100;
        loop {
            let state = self.state.load(Ordering::Relaxed);
            if state != LOCKED || spin == 0 {
                return state;
            }
            std::hint::spin_loop();
            spin -= 1;
        }
    }

    /// Releases the mutex: one swap, plus a wake when somebody may sleep.
    #[inline]
    pub fn unlock(&self) {
        if self.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            self.wake();
        }
    }

    #[cold]
    fn wake(&self) {
        let _ = futex::wake(&self.state, futex::Flags::empty(), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_between_threads() {
        let m = FutexMutex::new();
        let n = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        m.lock();
                        let v = n.load(Ordering::Relaxed);
                        n.store(v + 1, Ordering::Relaxed);
                        m.unlock();
                    }
                });
            }
        });
        assert_eq!(n.load(Ordering::Relaxed), 40_000);
    }
}
