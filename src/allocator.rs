//! The memory allocator: mimalloc, not the C library's. musl's halves the ingest throughput
//! of the static build; glibc's holds on to a burst's memory in per-thread arenas
//! (BENCHMARKS.md, "Ingest burst"). Declared in the library, it serves the binary, the tests
//! and the benchmarks alike.
//!
//! Two of mimalloc's defaults are changed, so that a burst of readings, or the first
//! start's password hashing (argon2: 19 MiB a hash), does not stay in the RSS once it is
//! over: an appliance's memory is the site's budget. Its arenas are committed page by page
//! as they are used, not whole (`.cargo/config.toml`, at compile time: mimalloc reads
//! that option before `main`), and freed memory goes back to the system at once instead of
//! 10 ms and more later ([`return_freed_memory_promptly`]). Measured together: the RSS at
//! rest after the first start 87 → 49 MiB, a 1,000,000-reading burst's peak about
//! 290 → 165 MiB, with no cost in throughput above the noise (BENCHMARKS.md).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`, numbered as in mimalloc.h (the same in v2, used with glibc, and
/// v3, used with musl).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Has mimalloc give freed memory back to the system at once (its purge delay 0). An
/// operator's `MIMALLOC_PURGE_DELAY` still wins. Call first thing in `main`, before any
/// other thread exists.
pub fn return_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mimalloc's options are not thread-safe to set; `main` calls this before
        // it starts any thread. The purge delay is read again at each use.
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
        }
    }
}
