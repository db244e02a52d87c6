//! Shared by the emulator benchmark (`emulator-bench`) and the plan CPU
//! benchmark (`benches/plan.rs`).

pub mod synthetic;
