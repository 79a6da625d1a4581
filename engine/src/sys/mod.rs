//! The operating-system calls the engine makes, kept in one place.

pub(crate) mod membarrier;
