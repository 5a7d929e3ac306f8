//! The provider catalogue: for each of the 18 runtime types, which protocol family it speaks,
//! where its API lives, how credentials are sent and which endpoints it offers. The catalogue is
//! data: the control plane serves it as `GET /integrations/{name}` and validates connections
//! against it; the inference plane will build upstream requests from it. [`prices`] says what
//! each model costs.

mod catalogue;
mod integration;
pub mod prices;

pub use catalogue::{descriptor, stream_usage, CredentialStyle, Family, ProviderDescriptor, StreamUsage};
pub use integration::{integration, Integration, IntegrationEndpoint, IntegrationEndpointToken};
