//! berth-build: Dockerfiles (the BuildKit reference syntax) to OCI images.
//!
//! The path of a build: [`cli`] fills [`options::BuildOptions`]; [`plan::check`] does the
//! static phase ([`dockerfile`] parses, [`graph`] orders the stages the target needs);
//! [`exec`] runs it: per stage, [`dispatch`] resolves each instruction against the stage's
//! image config ([`image`]), each file-system step is keyed ([`cache`]) and, on a miss,
//! COPY/ADD are planned ([`step::copy`], reading the [`context`] and a [`view`] of the
//! parent root) and written as deterministic layer tars ([`layer`]).
//!
//! Main types: [`dockerfile::Dockerfile`], [`dispatch::StageState`], [`dispatch::Step`],
//! [`graph::Graph`], [`cache::Key`], [`layer::LayerEntry`].

pub mod cache;
pub mod cli;
pub mod context;
pub mod diff;
pub mod dispatch;
pub mod dockerfile;
pub mod exec;
pub mod graph;
pub mod image;
pub mod layer;
pub mod options;
pub mod plan;
pub mod step;
pub mod view;
