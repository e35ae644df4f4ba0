//! Integration tests: one test binary (linking is the slow part of a debug build), one
//! module per area. Tests marked with `backend_tests!` run on SQLite and PostgreSQL.

mod common;
mod mqtt;

mod alerts;
mod auth;
mod authorization;
mod broker;
mod broker_security;
mod cambus;
mod chatwoot;
mod cli;
mod cluster;
mod config;
mod consistency;
mod console;
mod crash;
mod devices;
mod failure_modes;
mod fuzz;
mod groups;
mod history;
mod hostile;
mod http;
mod import_legacy;
mod incidents;
mod ingest;
mod lifecycle;
mod login_throttle;
mod openapi;
mod operations;
mod people;
mod pipelining;
mod positioning;
mod reports;
mod security;
mod site;
mod store_story;
mod upgrade;
mod users;
mod webhook_receivers;
mod webhooks;
mod zones;
