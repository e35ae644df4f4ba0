//! Which topics carry what: the one place that decides which messages the broker hands to
//! the pipeline or the CAM-BUS collector, what external mode subscribes to, and which
//! grammar the decoder applies.
//!
//! Trees (each `<tree>/…`, configurable under `[mqtt]`):
//! - `gateway_tree` (`rtls/gateways`): the original's report formats and their vendors';
//! - `espresense_tree` (`espresense`): ESPresense, `<tree>/devices/<id>/<room>`;
//! - `theengs_tree` (`home`): Theengs Gateway / OpenMQTTGateway,
//!   `<tree>/<gateway>/BTtoMQTT/<MAC>`;
//! - `camera_tree` (`rtls/cameras`): CAM-BUS.

use crate::config::MqttConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    /// A gateway report in the gateway tree.
    Gateway,
    /// An ESPresense report (`<id>/<room>` after `<tree>/devices/`).
    Espresense,
    /// A Theengs / OpenMQTTGateway report (`<gateway>/BTtoMQTT/<MAC>` after `<tree>/`).
    Theengs,
    /// The camera tree (CAM-BUS).
    Camera,
}

pub const THEENGS_MARKER: &str = "BTtoMQTT";

#[derive(Debug, Clone)]
pub struct TopicTrees {
    gateway: String,
    camera: String,
    espresense: Option<String>,
    theengs: Option<String>,
}

impl TopicTrees {
    pub fn new(config: &MqttConfig) -> TopicTrees {
        let optional = |tree: &str| (!tree.is_empty()).then(|| tree.to_string());
        TopicTrees {
            gateway: config.gateway_tree.clone(),
            camera: config.camera_tree.clone(),
            espresense: optional(&config.espresense_tree),
            theengs: optional(&config.theengs_tree),
        }
    }

    /// What `topic` carries, or `None` for topics the appliance does not consume.
    pub fn classify(&self, topic: &str) -> Option<TopicKind> {
        if under(topic, &self.gateway).is_some() {
            return Some(TopicKind::Gateway);
        }
        if under(topic, &self.camera).is_some() {
            return Some(TopicKind::Camera);
        }
        if let Some(rest) = self.espresense.as_deref().and_then(|t| under(topic, t))
            && rest.starts_with("devices/")
        {
            return Some(TopicKind::Espresense);
        }
        if let Some(rest) = self.theengs.as_deref().and_then(|t| under(topic, t))
            && rest.split('/').nth(1) == Some(THEENGS_MARKER)
        {
            return Some(TopicKind::Theengs);
        }
        None
    }

    /// The part of `topic` after its tree's prefix (`<tree>/`), for the decoders.
    pub fn rest<'t>(&self, topic: &'t str, kind: TopicKind) -> Option<&'t str> {
        let tree = match kind {
            TopicKind::Gateway => Some(self.gateway.as_str()),
            TopicKind::Camera => Some(self.camera.as_str()),
            TopicKind::Espresense => self.espresense.as_deref(),
            TopicKind::Theengs => self.theengs.as_deref(),
        };
        under(topic, tree?)
    }

    /// The filters that cover every consumed tree (external mode subscribes to these).
    pub fn filters(&self) -> Vec<String> {
        [
            Some(&self.gateway),
            Some(&self.camera),
            self.espresense.as_ref(),
            self.theengs.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|tree| format!("{tree}/#"))
        .collect()
    }

    /// What a gateway credential may publish by default: every report tree.
    pub fn gateway_publish_rules(&self) -> Vec<String> {
        let mut rules = vec![format!("{}/#", self.gateway)];
        if let Some(tree) = &self.espresense {
            rules.push(format!("{tree}/devices/#"));
        }
        if let Some(tree) = &self.theengs {
            rules.push(format!("{tree}/+/{THEENGS_MARKER}/#"));
        }
        rules
    }
}

/// `topic` without `<tree>/`, if it is under `tree`.
fn under<'t>(topic: &'t str, tree: &str) -> Option<&'t str> {
    topic.strip_prefix(tree)?.strip_prefix('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_classified_by_their_tree() {
        let trees = TopicTrees::new(&MqttConfig::default());
        let cases = [
            ("rtls/gateways/AABB/beacon", Some(TopicKind::Gateway)),
            (
                "rtls/cameras/t/b/f/camera/c1/status",
                Some(TopicKind::Camera),
            ),
            (
                "espresense/devices/aabb/kitchen",
                Some(TopicKind::Espresense),
            ),
            ("espresense/rooms/kitchen/telemetry", None),
            (
                "home/OMG_ESP32/BTtoMQTT/AABBCCDDEEFF",
                Some(TopicKind::Theengs),
            ),
            ("home/a/b/BTtoMQTT/AABB", None),
            ("rtls/gatewaysX/a", None),
            ("elsewhere/topic", None),
        ];
        for (topic, kind) in cases {
            assert_eq!(trees.classify(topic), kind, "{topic}");
        }
        assert_eq!(
            trees.filters(),
            [
                "rtls/gateways/#",
                "rtls/cameras/#",
                "espresense/#",
                "home/#"
            ]
        );
        let rules = crate::broker::acl::Rules::new(&trees.gateway_publish_rules(), "u", "c");
        for topic in [
            "rtls/gateways/x",
            "espresense/devices/a/b",
            "home/gw/BTtoMQTT/AABB",
        ] {
            assert!(rules.allows_topic(topic), "{topic}");
        }
        assert!(!rules.allows_topic("home/gw/other"));

        let config = MqttConfig {
            espresense_tree: "esp".into(),
            theengs_tree: String::new(),
            ..MqttConfig::default()
        };
        let trees = TopicTrees::new(&config);
        assert_eq!(
            trees.classify("esp/devices/a/b"),
            Some(TopicKind::Espresense)
        );
        assert_eq!(trees.classify("espresense/devices/a/b"), None);
        assert_eq!(
            trees.classify("home/gw/BTtoMQTT/AABB"),
            None,
            "a tree set to \"\" is off"
        );
    }
}
