//! Layer 4: the one trait a primitive implements — in its own file — so that the one builder,
//! [`Options`](crate::Options) (layer 5, `handles/options.rs`), makes and finds it: which kind
//! of segment it lives in, what a new segment starts with, and how the handle is built from
//! the memory once it is opened. Every constructor (`create`, `open`, `open_path`,
//! `from_env`), `pass_to`, `status`, `is_poisoned`/`clear_poison` and `set_timestamps` then
//! comes with it (`handles::options::handle_methods!`) instead of being written again.

use std::borrow::Cow;

use crate::locks::raw::Raw;
use crate::types::{Error, Kind};

/// A handle that [`Options`](crate::Options) makes or finds: [`Lock`](crate::Lock),
/// [`RLock`](crate::RLock), [`LockTable`](crate::LockTable), [`Value`](crate::Value),
/// [`Event`](crate::Event), [`Barrier`](crate::Barrier), [`RwLock`](crate::RwLock),
/// [`Condition`](crate::Condition).
///
/// Sealed: implemented by interlock's own handles only (what a primitive tells the builder
/// is private). Every `Primitive` `P` has the same constructors — `P::options()` and its
/// [`create`](crate::Options::create), [`open`](crate::Options::open),
/// [`open_path`](crate::Options::open_path), [`from_env`](crate::Options::from_env); the
/// shortcuts `P::new`, `P::open`, `P::open_path`, `P::from_env` — and `pass_to` to hand it to
/// a spawned program.
///
/// # Examples
///
/// ```
/// use interlock::{Lock, Options, Primitive, RLock};
///
/// // One function for every kind of handle: the builder is generic.
/// fn stamped<P: Primitive>(options: Options<P>) -> Result<P, interlock::Error> {
///     options.timestamps(true).create()
/// }
/// let lock: Lock = stamped(Lock::options())?;
/// let rlock: RLock = stamped(RLock::options().fair(true))?;
/// assert!(rlock.is_fair());
/// # Ok::<(), interlock::Error>(())
/// ```
pub trait Primitive: Open {}

impl<P: Open> Primitive for P {}

/// What a primitive tells the builder: the one trait a new primitive implements. `pub` in a
/// module the crate does not export, so that [`Primitive`] is sealed.
pub trait Open: Sized {
    /// The builder's settings that are this primitive's own, beyond the common ones (a lock
    /// file's mode, timestamps): a lock's fairness ([`LockConfig`]), a table's length, a
    /// value's initial value. `Default` is what the shortcuts use.
    type Config: Default + Clone + std::fmt::Debug;

    /// The kind of segment `config` asks for. An existing segment must be of this kind (a
    /// plain `Lock` or `RLock` also takes a fair one: `Raw::new`).
    fn kind(config: &Self::Config) -> Kind;

    /// What a new segment starts with (a value's bytes, a table's length: see
    /// `Segment::initialize`), and every check of `config` that must pass before anything
    /// is created; `what` names the handle in errors. Nothing, by default: a lock.
    fn payload<'a>(config: &'a Self::Config, what: &str) -> Result<Cow<'a, [u8]>, Error> {
        let _ = (config, what);
        Ok(Cow::Borrowed(&[]))
    }

    /// The checks of `config` that must pass before memory that exists is adopted
    /// (`from_env`, which makes no payload): a value's type size. None, by default.
    fn check(config: &Self::Config) -> Result<(), Error> {
        let _ = config;
        Ok(())
    }

    /// The handle over memory just opened (its kind checked; its size is this function's to
    /// check).
    fn from_raw(raw: Raw, config: &Self::Config) -> Result<Self, Error>;

    /// The lock this handle hands to spawned programs (`pass_to`) and reports on (`status`,
    /// poison): its only record, or a table's first.
    fn raw(&self) -> &Raw;
}

/// The settings of a [`Lock`](crate::Lock) or [`RLock`](crate::RLock) beyond the common ones:
/// whether it is fair ([`Options::fair`](crate::Options::fair)).
#[derive(Debug, Clone, Copy, Default)]
pub struct LockConfig {
    pub(crate) fair: bool,
}
