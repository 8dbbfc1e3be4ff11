//! Property test of the checker against a simple model.
