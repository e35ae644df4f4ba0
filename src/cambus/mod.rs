//! CAM-BUS, the cameras' bus: camera collectors publish what their cameras see under
//! `mqtt.camera_tree`; the appliance stores it ([`collector`]), fuses it with who was there
//! ([`nearby`]), and publishes each camera's configuration back to the collectors
//! ([`publisher`]). The topic grammar is in [`topic`].

pub mod collector;
pub mod nearby;
pub mod publisher;
pub mod topic;
