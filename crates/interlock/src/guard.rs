//! What both guards share: the hold they stand for and how it ends.

use std::marker::PhantomData;

use crate::error::Error;
use crate::raw::{Acquisition, Raw};
use crate::sync::Ordering;
use crate::sys;

/// One acquisition of a lock by the calling thread.
///
/// `!Send` (the `PhantomData<*const ()>`): the word records the acquiring thread's id, so a hold
/// released from another thread would be refused as not-owner and leak the lock instead.
pub(crate) struct Hold<'a> {
    pub(crate) raw: &'a Raw,
    pub(crate) acq: Acquisition,
    /// Whether this thread was already panicking when the hold began: only a panic that starts
    /// inside the section poisons (std's `poison::Flag` rule).
    panicking: bool,
    _not_send: PhantomData<*const ()>,
}

impl<'a> Hold<'a> {
    #[inline]
    pub(crate) fn new(raw: &'a Raw, acq: Acquisition) -> Hold<'a> {
        Hold {
            raw,
            acq,
            panicking: std::thread::panicking(),
            _not_send: PhantomData,
        }
    }

    /// Whether a panic began inside this hold and is unwinding through its guard now.
    #[inline]
    pub(crate) fn poisoning(&self) -> bool {
        !self.panicking && std::thread::panicking()
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.raw.is_poisoned()
    }

    /// Ends the hold: releases the lock (or, for a nested RLock hold, one level of it).
    #[inline(always)]
    pub(crate) fn end(&self, reentrant: bool) -> Result<(), Error> {
        let me = sys::me();
        let rec = self.raw.record();
        if rec.acquisitions.load(Ordering::Relaxed) != self.acq.token || !rec.held_by(&me) {
            return Err(self.raw.not_owner());
        }
        if self.poisoning() {
            self.raw.poison();
        }
        if reentrant {
            let depth = rec.depth.load(Ordering::Relaxed);
            if depth > 1 {
                rec.depth.store(depth - 1, Ordering::Relaxed);
                return Ok(());
            }
        }
        self.raw.release(&me, None)
    }
}
