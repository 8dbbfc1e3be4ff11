//! Tests of the ordering checker.
