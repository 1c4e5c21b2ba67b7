//! An RLock's recursion depth (issue 18): owner-only data beside the lock word, read and
//! written only by the word's holder, with Relaxed accesses — the word's Acquire (when taken)
//! and Release (when released) order them between holders, as they order the data the lock
//! guards. The rules live here, beside the word, so that the loom model of the depth
//! (`model_rlock_depth_*` in `word/model.rs`) checks the code `shm/record.rs` runs.

use crate::sync::{AtomicU32, Ordering};

/// The first level of a hold just taken: depth 1, whatever a holder that died left there.
#[inline(always)]
pub(crate) fn enter_first_level(depth: &AtomicU32) {
    if crate::sync::mutant("rlock-takeover-keeps-depth") && depth.load(Ordering::Relaxed) != 0 {
        return;
    }
    depth.store(1, Ordering::Relaxed);
}

/// One more level of the caller's hold: the new depth, or `Err` with the depth as it stays
/// when one more would pass `u32::MAX - 1`.
#[inline(always)]
pub(crate) fn enter_inner_level(depth: &AtomicU32) -> Result<u32, u32> {
    let d = depth.load(Ordering::Relaxed);
    if d >= u32::MAX - 1 {
        return Err(d);
    }
    depth.store(d + 1, Ordering::Relaxed);
    Ok(d + 1)
}

/// A release by the holder: an inner level ends alone (true: the depth is one less), and only
/// the outermost level's end releases the word (false, changing nothing: the caller releases).
#[inline(always)]
pub(crate) fn leave_inner_level(depth: &AtomicU32) -> bool {
    let d = depth.load(Ordering::Relaxed);
    if d > 1 {
        depth.store(d - 1, Ordering::Relaxed);
        true
    } else {
        false
    }
}
