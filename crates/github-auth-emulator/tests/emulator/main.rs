//! Drives the emulator over plain HTTP: one test per accepted and refused case.

mod applications;
mod common;
mod config;
mod device;
mod installations;
mod jwt;
mod knobs;
mod oauth_web;
mod refresh;
mod rest;
