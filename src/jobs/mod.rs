//! Background jobs of the appliance.

pub mod device_monitor;
pub mod retention;
