//! Layer 3: shared memory and names — the segment format, lock records and the protocol that
//! takes and releases them, mapping a segment and the life of its descriptor, and the named
//! files of a user's namespace.
//!
//! | file | what |
//! |---|---|
//! | `header.rs` | the format: a 64-byte header of our own, validated before anything else |
//! | `record.rs` | one lock's 128-byte record, and its take/release protocol with the robust list |
//! | `mapping.rs` | a segment created, validated and mapped; its descriptor; the trust rule |
//! | `name.rs` | lock names, the per-user namespace directory, opening lock files safely |

mod header;
mod mapping;
pub(crate) mod name;
mod record;

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use header::Header;
#[cfg(feature = "fuzzing")]
pub(crate) use header::SEGMENT_LEN;
pub(crate) use header::{table_payload, Content, MAGIC, MAX_TABLE, MAX_VALUE, WAIT_SLOT_LEN};
pub(crate) use header::{BARRIER_HEAD_LEN, BARRIER_SLOT_LEN, MAX_PARTIES};
pub(crate) use header::{FLAG_PREFER_READERS, MAX_READERS};
// Issue 15: Condition.
pub(crate) use header::CONDITION_PAYLOAD_LEN;
pub(crate) use mapping::{trusted_file, RecordRef, Segment};
pub(crate) use record::{FastRelease, GroupRecord, Record, Took};
