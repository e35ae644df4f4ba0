//! Background jobs of the appliance.

pub mod gateway_monitor;
pub mod retention;
