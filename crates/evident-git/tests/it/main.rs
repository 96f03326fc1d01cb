//! Integration tests of evident-git against real repositories built with the git CLI.

mod github;
mod incremental;
mod listing;
mod security;
mod support;
mod transport;
