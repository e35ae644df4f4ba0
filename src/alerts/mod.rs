//! Alerts: rules on the live state and the engine that runs them.
//!
//! The engine (`engine.rs`) is fed by transitions, never by a query per reading: the
//! pipeline's position changes (a tag's current gateway and x/y, at most every few seconds
//! for a tag that stays put) and the device monitor's online/offline changes, both from an
//! ordered feed of the event bus that never drops a change, plus the rules' and zones' own
//! changes. Its open sessions live in memory, are rebuilt from the
//! open alert events at start, and their last evidence is written every few seconds and at
//! close. `rules.rs` says what a rule is: its kind and its schedule.

pub mod engine;
pub mod rules;

pub use engine::Engine;
pub use rules::{RuleKind, Schedule};
