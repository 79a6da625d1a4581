//! Linux `membarrier(2)`: the heavy side of the asymmetric barrier in `epoch.rs`.
//!
//! `MEMBARRIER_CMD_PRIVATE_EXPEDITED` makes every running thread of this process execute
//! a full memory barrier before the call returns. With it, the producer side of the
//! epoch handshake needs only a compiler fence; without it (other kernels, sandboxes that
//! filter the syscall), both sides use a `SeqCst` fence.

#[cfg(target_os = "linux")]
mod imp {
    use std::sync::OnceLock;

    const CMD_QUERY: libc::c_long = 0;
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    fn membarrier(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: membarrier takes two integers and a CPU id and touches no memory of
        // ours; an unsupported command fails with an error code, never undefined behaviour.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        }
    }

    /// Registers this process for expedited private barriers, once. True when usable.
    pub(crate) fn available() -> bool {
        static REGISTERED: OnceLock<bool> = OnceLock::new();
        *REGISTERED.get_or_init(|| {
            if std::env::var_os("CORELANE_NO_MEMBARRIER").is_some() {
                return false;
            }
            let supported = membarrier(CMD_QUERY);
            supported >= 0
                && supported & CMD_PRIVATE_EXPEDITED != 0
                && membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) == 0
        })
    }

    /// Issues the barrier; false if the kernel refused it.
    pub(crate) fn private_expedited() -> bool {
        membarrier(CMD_PRIVATE_EXPEDITED) == 0
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(crate) fn available() -> bool {
        false
    }

    pub(crate) fn private_expedited() -> bool {
        false
    }
}

pub(crate) use imp::{available, private_expedited};
