//! Why the broker refused a connection or a packet (counted by [`crate::metrics`]).

/// Why the broker refused a connection or a packet; each has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    BadCredentials,
    NotAuthorized,
    InvalidClientId,
    ConnectTimeout,
    ProtocolError,
    TooLarge,
    TooManyConnections,
    PublishDenied,
    SubscribeDenied,
    /// Too many connections from one address at once.
    TooManyFromAddress,
    /// CONNECTs from one address faster than `mqtt.connect_rate_per_minute`.
    ConnectRateLimited,
    /// A client id held by a live connection of another credential.
    ClientIdInUse,
    /// A shared subscription asked for by a persistent session.
    SharedOnPersistentSession,
    /// A retained publish over the per-credential or total retained limits.
    RetainedLimit,
    /// A message the router routed to a client whose credential may not read it.
    DeliveryDenied,
}

impl Refusal {
    pub const ALL: [Refusal; 15] = [
        Refusal::BadCredentials,
        Refusal::NotAuthorized,
        Refusal::InvalidClientId,
        Refusal::ConnectTimeout,
        Refusal::ProtocolError,
        Refusal::TooLarge,
        Refusal::TooManyConnections,
        Refusal::PublishDenied,
        Refusal::SubscribeDenied,
        Refusal::TooManyFromAddress,
        Refusal::ConnectRateLimited,
        Refusal::ClientIdInUse,
        Refusal::SharedOnPersistentSession,
        Refusal::RetainedLimit,
        Refusal::DeliveryDenied,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::BadCredentials => "bad_credentials",
            Refusal::NotAuthorized => "not_authorized",
            Refusal::InvalidClientId => "invalid_client_id",
            Refusal::ConnectTimeout => "connect_timeout",
            Refusal::ProtocolError => "protocol_error",
            Refusal::TooLarge => "too_large",
            Refusal::TooManyConnections => "too_many_connections",
            Refusal::PublishDenied => "publish_denied",
            Refusal::SubscribeDenied => "subscribe_denied",
            Refusal::TooManyFromAddress => "too_many_from_address",
            Refusal::ConnectRateLimited => "connect_rate_limited",
            Refusal::ClientIdInUse => "client_id_in_use",
            Refusal::SharedOnPersistentSession => "shared_on_persistent_session",
            Refusal::RetainedLimit => "retained_limit",
            Refusal::DeliveryDenied => "delivery_denied",
        }
    }
}
