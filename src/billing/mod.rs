//! The nightly billing job.

mod arrow_bridge;
