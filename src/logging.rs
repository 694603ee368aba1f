//! Logging through the `log` facade when the `log` feature is on (the
//! default); compiled out otherwise. The library never prints: it reports
//! what it recovers from here, once per event, never per request in
//! steady state.

macro_rules! log_error {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        log::error!($($arg)*);
        #[cfg(not(feature = "log"))]
        let _ = format_args!($($arg)*);
    }};
}
pub(crate) use log_error;

macro_rules! log_warn {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        log::warn!($($arg)*);
        #[cfg(not(feature = "log"))]
        let _ = format_args!($($arg)*);
    }};
}
pub(crate) use log_warn;

macro_rules! log_info {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        log::info!($($arg)*);
        #[cfg(not(feature = "log"))]
        let _ = format_args!($($arg)*);
    }};
}
pub(crate) use log_info;

macro_rules! log_debug {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        log::debug!($($arg)*);
        #[cfg(not(feature = "log"))]
        let _ = format_args!($($arg)*);
    }};
}
pub(crate) use log_debug;
