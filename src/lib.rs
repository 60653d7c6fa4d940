//! Token Plan Teams.
