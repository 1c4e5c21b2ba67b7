//! What both guards share: the hold they stand for and how it ends.

use std::marker::PhantomData;

use crate::locks::raw::{Acquisition, Raw};
use crate::shm::FastRelease;
use crate::sys;
use crate::types::Error;

/// `Hold::bits`: the previous owner died holding the lock.
const OWNER_DIED: u64 = 1 << 63;
/// `Hold::bits`: the thread was already panicking when the hold began.
const WAS_PANICKING: u64 = 1 << 62;
/// `Hold::bits`: the fencing token (`raw::record_holder` keeps tokens within these bits).
const TOKEN: u64 = crate::locks::raw::TOKEN_BITS;
const _: () = assert!(TOKEN == WAS_PANICKING - 1);

/// One acquisition of a lock by the calling thread.
///
/// Two scalars, the lock and the token with two flags in its top bits, so that a guard is a
/// scalar pair to the compiler and travels in registers. A guard with a separate flag byte was
/// copied through the stack with a 1-byte store read back as 8 bytes, a store-forwarding stall
/// that cost more than everything else in an uncontended lock and unlock (decision 0001).
///
/// `!Send` (the `PhantomData<*const ()>`): the word records the acquiring thread's id, so a hold
/// released from another thread would be refused as not-owner and leak the lock instead.
pub(crate) struct Hold<'a> {
    pub(crate) raw: &'a Raw,
    /// `token | OWNER_DIED | WAS_PANICKING`. Only a panic that starts inside the section
    /// poisons (std's `poison::Flag` rule), hence `WAS_PANICKING`.
    bits: u64,
    _not_send: PhantomData<*const ()>,
}

impl<'a> Hold<'a> {
    #[inline(always)]
    pub(crate) fn new(raw: &'a Raw, acq: Acquisition) -> Hold<'a> {
        // No mask: `record_holder` keeps tokens below the flag bits.
        debug_assert!(acq.token <= TOKEN);
        let mut bits = acq.token;
        if acq.owner_died {
            bits |= OWNER_DIED;
        }
        if std::thread::panicking() {
            bits |= WAS_PANICKING;
        }
        Hold {
            raw,
            bits,
            _not_send: PhantomData,
        }
    }

    /// The fencing token of this hold.
    #[inline(always)]
    pub(crate) fn token(&self) -> u64 {
        self.bits & TOKEN
    }

    /// Whether the previous owner died holding the lock.
    pub(crate) fn owner_died(&self) -> bool {
        self.bits & OWNER_DIED != 0
    }

    /// Whether a panic began inside this hold and is unwinding through its guard now.
    #[inline(always)]
    fn poisoning(&self) -> bool {
        std::thread::panicking() && self.bits & WAS_PANICKING == 0
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.raw.is_poisoned()
    }

    /// Ends the hold: releases the lock (or, for a nested RLock hold, one level of it).
    /// `NotOwner` if the hold already ended (a forked copy, or after `Lock::release`).
    pub(crate) fn end(&self, reentrant: bool) -> Result<(), Error> {
        if self.end_quietly(reentrant) {
            Ok(())
        } else {
            Err(self.raw.not_owner())
        }
    }

    /// The uncontended release every drop tries first, refused while a panic unwinds (the full
    /// path poisons). The bits whole: a flagged hold (previous owner died, taken while
    /// panicking) fails the fast path's comparison with the acquisition count and takes the
    /// full path.
    #[inline(always)]
    fn release_fast(&self, reentrant: bool) -> FastRelease {
        if std::thread::panicking() {
            FastRelease::Refused
        } else {
            self.raw.release_fast(self.bits, reentrant)
        }
    }

    /// [`Hold::end`] for `drop`, which has nobody to tell: the uncontended release (or an RLock's
    /// inner level) inline, and everything else (a panic, a hold that already ended, a fair
    /// lock) out of line.
    #[inline(always)]
    pub(crate) fn drop_hold(&self, reentrant: bool) {
        let how = self.release_fast(reentrant);
        // One cold call for both unusual ends: each call in the drop counts against its
        // being inlined into the caller (decision 0008).
        if how != FastRelease::Done {
            self.drop_slow(how, reentrant);
        }
    }

    /// [`Hold::drop_hold`] of a non-reentrant hold that runs `after_slow` once the lock is
    /// released whenever the release was not the uncontended one (a sleeper announced
    /// itself, or anything unusual): an `RwLock` writer's wake-up of the readers asleep on its
    /// word.
    #[inline(always)]
    pub(crate) fn drop_hold_then(&self, after_slow: impl FnOnce()) {
        let how = self.release_fast(false);
        if how != FastRelease::Done {
            self.drop_slow(how, false);
            after_slow();
        }
    }

    /// [`Hold::drop_hold`] of a non-reentrant hold that says whether the release woke a
    /// sleeper on the word: false for the uncontended release (nobody had announced
    /// itself) and for every unusual end (a hold that already ended, a panic), when the
    /// caller cannot know. A [`Permit`](crate::Permit)'s drop, which wakes a sleeper on
    /// another permit only when this woke none.
    #[inline(always)]
    pub(crate) fn drop_hold_woke(&self) -> bool {
        let how = self.release_fast(false);
        match how {
            FastRelease::Done => false,
            FastRelease::Raced => self.raw.finish_raced_release_woke(),
            _ => {
                self.drop_slow(how, false);
                false
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn drop_slow(&self, how: FastRelease, reentrant: bool) {
        if how == FastRelease::Raced {
            self.raw.finish_raced_release();
        } else {
            self.end_quietly(reentrant);
        }
    }

    /// Ends the hold like [`Hold::drop_hold`] (poisoning if a panic began inside it), after
    /// running `commit` while the hold is provably still current: `commit` never runs for a
    /// hold that already ended (a forked copy of a guard), so it may write what the lock
    /// protects. `commit` is told whether a panic that began inside the hold is unwinding.
    /// False if the hold already ended. For [`ValueGuard`](crate::ValueGuard)'s commit on drop:
    /// every update takes this path, so it is not `#[cold]`.
    #[inline(always)]
    pub(crate) fn end_after(&self, commit: impl FnOnce(bool)) -> bool {
        self.raw.end_hold(&sys::me(), self.token(), || {
            let poisoning = self.poisoning();
            if poisoning {
                self.raw.poison();
            }
            commit(poisoning);
            true
        })
    }

    /// [`Hold::end`] without the error: false if the hold already ended.
    #[cold]
    #[inline(never)]
    fn end_quietly(&self, reentrant: bool) -> bool {
        // An RLock's outer level, whose hold a condition wait released and took again, ends
        // the hold it continued as (`Raw::continue_hold`).
        let token = self.raw.current_token(self.token());
        self.raw.end_hold(&sys::me(), token, || {
            if self.poisoning() {
                self.raw.poison();
            }
            // An RLock's inner level ends alone; the outermost releases.
            !(reentrant && self.raw.record().leave_inner_level())
        })
    }
}
