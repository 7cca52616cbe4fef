//! The C entry points of `native/ext.cpp`.

use std::ffi::{c_char, c_void, CStr};

/// Receives one recorded operator: name, thread, start and end in nanoseconds.
pub(crate) type EventFn =
    unsafe extern "C" fn(ctx: *mut c_void, name: *const c_char, thread: u64, start: u64, end: u64);

extern "C" {
    fn tx_last_error() -> *const c_char;
    pub(crate) fn tx_numerics(what: i32) -> *const c_char;
    pub(crate) fn tx_autocast_enabled(cuda: i32) -> bool;
    pub(crate) fn tx_autocast_dtype(cuda: i32) -> i32;
    pub(crate) fn tx_autocast_set(cuda: i32, enabled: bool, dtype: i32) -> i32;
    pub(crate) fn tx_autocast_cache_enabled() -> bool;
    pub(crate) fn tx_autocast_set_cache_enabled(enabled: bool);
    pub(crate) fn tx_autocast_enter() -> i32;
    pub(crate) fn tx_autocast_exit();
    pub(crate) fn tx_profiler_start() -> i32;
    pub(crate) fn tx_profiler_stop(each: EventFn, ctx: *mut c_void) -> i64;
}

/// The message of the last failed entry point on this thread.
pub(crate) fn last_error() -> crate::Error {
    // SAFETY: the C side returns a NUL-terminated thread-local string that outlives this call.
    let message = unsafe { CStr::from_ptr(tx_last_error()) };
    crate::Error(message.to_string_lossy().into_owned())
}
