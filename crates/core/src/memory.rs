//! How the process reuses memory.

/// Keeps freed large blocks for reuse instead of handing them back to the
/// operating system, on glibc (elsewhere it does nothing). glibc's malloc
/// serves blocks above a threshold (dynamic, at most 32 MB) with fresh
/// `mmap`s and unmaps them when freed, so a training step that allocates
/// and frees the same tensor buffers every time pays page faults to zero
/// them again: the day/night training step took 98 ms with glibc's
/// defaults and 60 ms with these settings (2 cores). Peak memory rises
/// somewhat (`face verify` 199 → 275 MB) and streaming detection is
/// unchanged (15 MB). mimalloc was as fast but peaked higher (311 MB and
/// 34 MB). Call it once, at the start of a program or benchmark. (The
/// `casebook` binary has since moved to mimalloc: on the style networks'
/// 512² activations it took a tenth of the page faults; see its `main`.)
pub fn reuse_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets parameters of glibc's allocator, under its
    // own lock; the values are in range for both parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}
