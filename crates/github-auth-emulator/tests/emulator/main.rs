//! Drives the emulator over plain HTTP: one test per accepted and refused case.

mod app_installations;
mod applications;
mod common;
mod config;
mod device;
mod hosts;
mod installation_token;
mod installations;
mod jwt;
mod knobs;
mod manifest;
mod oauth_web;
mod openapi;
mod rate_limits;
mod refresh;
mod rest;
mod token_format;
mod webhooks;
