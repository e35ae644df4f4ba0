//! Topic authorisation: which topic trees a client may publish to and read.
//!
//! A rule is an MQTT filter (`rtls/gateways/#`, `site/+/status`) in which `%u` stands for
//! the client's username and `%c` for its client id, so a credential shared by many
//! gateways can still confine each to its own subtree (`rtls/gateways/%c/#`).

/// Whether `topic` (no wildcards) matches `filter` (MQTT wildcards `+` and `#`).
pub fn matches(filter: &str, topic: &str) -> bool {
    // Topics starting with `$` are not matched by filters starting with a wildcard.
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match level {
            "#" => return true,
            "+" => {
                if topic_levels.next().is_none() {
                    return false;
                }
            }
            exact => {
                if topic_levels.next() != Some(exact) {
                    return false;
                }
            }
        }
    }
    topic_levels.next().is_none()
}

/// Whether every topic that `filter` can match is matched by `rule` — i.e. a subscription
/// to `filter` stays inside what `rule` allows.
pub fn covers(rule: &str, filter: &str) -> bool {
    let mut filter_levels = filter.split('/');
    for level in rule.split('/') {
        match level {
            "#" => return true,
            "+" => match filter_levels.next() {
                Some("#") | None => return false,
                Some(_) => {}
            },
            exact => match filter_levels.next() {
                Some(l) if l == exact => {}
                _ => return false,
            },
        }
    }
    filter_levels.next().is_none()
}

/// Whether `filter` is a well-formed MQTT subscription filter.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > 1024 || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, level)| match *level {
        "#" => i == levels.len() - 1,
        "+" => true,
        other => !other.contains(['+', '#']),
    })
}

/// Whether `topic` is a well-formed topic to publish to.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= 1024 && !topic.contains(['+', '#', '\0'])
}

/// The filter a shared subscription (`$share/<group>/<filter>`) applies.
pub fn unshared(filter: &str) -> &str {
    filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_, f)| f)
}

/// A set of rules with the placeholders already filled in for one client.
#[derive(Debug, Clone, Default)]
pub struct Rules(Vec<String>);

impl Rules {
    pub fn new(rules: &[String], username: &str, client_id: &str) -> Rules {
        Rules(
            rules
                .iter()
                .map(|r| r.replace("%u", username).replace("%c", client_id))
                .collect(),
        )
    }

    /// May a client publish to `topic`?
    pub fn allows_topic(&self, topic: &str) -> bool {
        self.0.iter().any(|rule| matches(rule, topic))
    }

    /// May a client subscribe to `filter`?
    pub fn allows_filter(&self, filter: &str) -> bool {
        let filter = unshared(filter);
        self.0.iter().any(|rule| covers(rule, filter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_topics() {
        let cases = [
            ("rtls/gateways/#", "rtls/gateways/AABB/beacon", true),
            ("rtls/gateways/#", "rtls/gateways", true),
            ("rtls/gateways/#", "rtls/cameras/x", false),
            ("rtls/+/x", "rtls/a/x", true),
            ("rtls/+/x", "rtls/a/b/x", false),
            ("rtls/+", "rtls", false),
            ("#", "anything/at/all", true),
            ("#", "$SYS/broker", false),
            ("a/b", "a/b", true),
            ("a/b", "a/b/c", false),
        ];
        for (filter, topic, expected) in cases {
            assert_eq!(matches(filter, topic), expected, "{filter} ~ {topic}");
        }
    }

    #[test]
    fn rules_cover_subscriptions_inside_them_only() {
        let cases = [
            ("rtls/cameras/#", "rtls/cameras/#", true),
            ("rtls/cameras/#", "rtls/cameras/t/b/f/camera/c1/info", true),
            ("rtls/cameras/#", "rtls/cameras/+/info", true),
            ("rtls/cameras/#", "rtls/#", false),
            ("rtls/cameras/#", "#", false),
            ("rtls/cameras/#", "+/cameras/x", false),
            ("site/+/status", "site/a/status", true),
            ("site/+/status", "site/+/status", true),
            ("site/+/status", "site/#", false),
        ];
        for (rule, filter, expected) in cases {
            assert_eq!(covers(rule, filter), expected, "{rule} covers {filter}");
        }
    }

    #[test]
    fn placeholders_confine_a_client_to_its_subtree() {
        let rules = Rules::new(
            &["rtls/gateways/%c/#".into(), "users/%u/#".into()],
            "gw-user",
            "AABBCCDDEEFF",
        );
        assert!(rules.allows_topic("rtls/gateways/AABBCCDDEEFF/beacon"));
        assert!(!rules.allows_topic("rtls/gateways/OTHER/beacon"));
        assert!(rules.allows_topic("users/gw-user/x"));
        assert!(rules.allows_filter("$share/g/users/gw-user/#"));
        assert!(!rules.allows_filter("$share/g/users/#"));
    }

    #[test]
    fn malformed_filters_and_topics_are_recognised() {
        assert!(valid_filter("a/+/b/#") && valid_filter("#") && valid_filter("+"));
        assert!(
            !valid_filter("a/#/b")
                && !valid_filter("a/b#")
                && !valid_filter("")
                && !valid_filter("a+/b")
        );
        assert!(
            valid_topic("a/b") && !valid_topic("a/+") && !valid_topic("") && !valid_topic("a/#")
        );
        assert_eq!(unshared("$share/group/rtls/#"), "rtls/#");
        assert_eq!(unshared("rtls/#"), "rtls/#");
    }
}
