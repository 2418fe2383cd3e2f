//! Host-side system-test harness for satman (work in progress).
