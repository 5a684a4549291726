//! Scheduled jobs (DESIGN.md §6): kinds are code (`kinds`, one type each), schedules are
//! rows that admins edit at run time (`service`, `store`), parsed once into a `Schedule`;
//! the `scheduler` fires each tick at its instant in the job's zone, and the `runner` makes
//! each tick run once across all instances.

pub mod kinds;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod service;
pub mod store;
