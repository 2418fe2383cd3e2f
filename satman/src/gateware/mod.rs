//! Drivers for the Kasli-SoC satellite gateware (work in progress).
