//! SecurityVision: an on-prem RTLS and camera-event appliance in one binary.
//!
//! `main.rs` parses the command line and calls [`commands`]; everything else is organised by
//! feature: [`config`], [`store`], [`auth`], [`api`], [`server`] (the `serve` command's
//! lifecycle), [`bootstrap`] (first-start state) and [`shutdown`].

pub mod alerts;
pub mod allocator;
pub mod api;
pub mod auth;
pub mod backup;
pub mod bootstrap;
pub mod broker;
pub mod cambus;
pub mod chatwoot;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod demo;
pub mod disk;
pub mod events;
pub mod fuzz_targets;
pub mod geometry;
pub mod import;
pub mod incidents;
pub mod ingest;
pub mod jobs;
pub mod mac;
pub mod media;
pub mod metrics;
pub mod reports;
pub mod secrets;
pub mod server;
pub mod shutdown;
pub mod simulate;
pub mod store;
pub mod systemd;
pub mod telemetry;
pub mod tls;
pub mod webhooks;
