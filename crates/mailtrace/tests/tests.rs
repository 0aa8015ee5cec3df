//! End-to-end tests of the `mailtrace` binary.

mod util;

mod bad_input;
mod cli;
mod postfix_harness;
