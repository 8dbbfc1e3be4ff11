//! Mutated copies of the seed sequences: each mutation is caught with the right kind.
