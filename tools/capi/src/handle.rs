//! Opaque handles that detect use after free and handles of the wrong kind.
//!
//! A handle is a pointer to a shell: a tag word and the value. `*_free` drops the value,
//! marks the shell freed and parks it in a FIFO quarantine instead of returning its
//! memory, so a freed handle still points at a valid shell whose tag says "freed": the
//! next call reports `CL_ERR_BAD_HANDLE` instead of reading freed memory. A shell is
//! reused only once more than `QUARANTINE` shells of its kind wait behind it, which bounds
//! the memory parked (a few dozen bytes per shell) and makes a stale handle undetectable
//! only after that many frees. A pointer that never was a handle cannot be detected.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::Failure;
use crate::status::Status;

const QUARANTINE: usize = 1024;

/// What a handle points at.
pub struct Shell<V> {
    tag: AtomicU64,
    value: UnsafeCell<Option<V>>,
}

impl<V> std::fmt::Debug for Shell<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shell(tag {:#x})", self.tag.load(Ordering::Relaxed))
    }
}

impl<V> std::fmt::Debug for Registry<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("kind", &self.name)
            .finish_non_exhaustive()
    }
}

// SAFETY: the value is only touched through `Registry`, whose contract (stated in the C
// header per function) is: shared access for thread-safe kinds, one thread at a time for
// the others, and no call racing with `*_free` on the same handle.
unsafe impl<V: Send> Sync for Shell<V> {}
// SAFETY: as above; moving a shell between threads moves a `V: Send`.
unsafe impl<V: Send> Send for Shell<V> {}

/// The live/freed tags and quarantine of one kind of handle.
pub struct Registry<V: 'static> {
    live: u64,
    freed: u64,
    name: &'static str,
    quarantine: Mutex<VecDeque<&'static Shell<V>>>,
}

impl<V: Send + 'static> Registry<V> {
    /// A registry whose tags are `live` and `live ^ 0xFFFF` (distinct per kind).
    pub const fn new(live: u64, name: &'static str) -> Self {
        Registry {
            live,
            freed: live ^ 0xFFFF,
            name,
            quarantine: Mutex::new(VecDeque::new()),
        }
    }

    /// Wraps `value` in a live shell and returns the handle.
    pub fn create(&'static self, value: V) -> *mut Shell<V> {
        let reused = {
            let mut q = self.quarantine.lock();
            if q.len() > QUARANTINE {
                q.pop_front()
            } else {
                None
            }
        };
        let shell: &'static Shell<V> = reused.unwrap_or_else(|| {
            Box::leak(Box::new(Shell {
                tag: AtomicU64::new(self.freed),
                value: UnsafeCell::new(None),
            }))
        });
        // SAFETY: the shell is freed (tag) and out of the quarantine, so no handle refers
        // to it legitimately and nothing else touches its value.
        unsafe { *shell.value.get() = Some(value) };
        shell.tag.store(self.live, Ordering::Release);
        shell as *const Shell<V> as *mut Shell<V>
    }

    fn check(&self, ptr: *const Shell<V>, what: &str) -> Result<&'static Shell<V>, Failure> {
        if ptr.is_null() {
            return Err(Failure::new(Status::Null, format!("{what} is NULL")));
        }
        // SAFETY: a non-NULL handle points at a shell: handles are never freed memory
        // (see the module doc). A pointer that was never a handle breaks the documented
        // contract; its tag then almost surely mismatches below.
        let shell = unsafe { &*ptr };
        match shell.tag.load(Ordering::Acquire) {
            t if t == self.live => Ok(shell),
            t if t == self.freed => Err(Failure::new(
                Status::BadHandle,
                format!("{what} was already freed"),
            )),
            _ => Err(Failure::new(
                Status::BadHandle,
                format!("{what} is not a {} handle", self.name),
            )),
        }
    }

    /// The value behind a live handle, shared.
    pub fn get(&self, ptr: *const Shell<V>, what: &str) -> Result<&'static V, Failure> {
        let shell = self.check(ptr, what)?;
        // SAFETY: live tag: the value is Some and, by the contract, not being freed.
        Ok(unsafe {
            (*shell.value.get())
                .as_ref()
                .expect("live shell holds a value")
        })
    }

    /// The value behind a live handle, exclusive (kinds used by one thread at a time).
    #[allow(clippy::mut_from_ref)]
    pub fn get_mut(&self, ptr: *mut Shell<V>, what: &str) -> Result<&'static mut V, Failure> {
        let shell = self.check(ptr, what)?;
        // SAFETY: live tag, and the contract gives this call exclusive use of the handle.
        Ok(unsafe {
            (*shell.value.get())
                .as_mut()
                .expect("live shell holds a value")
        })
    }

    /// Frees a handle: returns its value (to drop) and quarantines the shell. NULL is a
    /// no-op.
    pub fn destroy(&'static self, ptr: *mut Shell<V>, what: &str) -> Result<Option<V>, Failure> {
        if ptr.is_null() {
            return Ok(None);
        }
        let shell = self.check(ptr, what)?;
        if shell
            .tag
            .compare_exchange(self.live, self.freed, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Failure::new(
                Status::BadHandle,
                format!("{what} was already freed"),
            ));
        }
        // SAFETY: we won the live→freed transition: no other free can take the value, and
        // by the contract no other call is using it.
        let value = unsafe { (*shell.value.get()).take() };
        self.quarantine.lock().push_back(shell);
        Ok(value)
    }
}
