//! Types and rules shared by every part of modelgate: the Blaxel-shaped resources, the checks
//! their fields must pass, caller scopes, API keys and the sealing of provider secrets.

pub mod access_token;
pub mod api_key;
pub mod identity;
pub mod resources;
pub mod scope;
pub mod secret_box;
pub mod timestamp;
pub mod usage;
pub mod validation;

#[cfg(test)]
mod properties;

pub use resources::*;
pub use scope::Scope;
pub use validation::ValidationError;
