//! End-to-end tests: a real server on 127.0.0.1:0 with its own SQLite database, driven through
//! the HTTP API and through the `evident` binary.

mod auth;
mod bad_input;
mod cli;
mod durability;
mod helpers;
mod repos;
mod snapshots;
mod tutorial;
