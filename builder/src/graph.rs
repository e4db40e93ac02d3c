//! Stages as a graph: which stages the target needs, and in what order they can run.
