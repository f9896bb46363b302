//! The API's resources, one module each. Every module exports `configure`, which
//! `create_app` composes; handlers unpack their extractors, make one domain call and answer.

pub mod admin;
pub mod events;
pub mod health;
pub mod jobs;
pub mod openapi;
pub mod webhooks;
