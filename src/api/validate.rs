//! Body validation shared by the resources: collects every problem of a request body so
//! that the client can show each next to its field, and distinguishes "absent" from
//! "null" in partial updates.

use serde::{Deserialize, Deserializer};

use super::error::{ApiError, ApiResult, FieldError};

#[derive(Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn new() -> Self {
        Checks::default()
    }

    pub fn push(&mut self, field: &str, kind: &'static str, msg: impl Into<String>) {
        self.0.push(FieldError::body(field, kind, msg));
    }

    /// Text that must not be blank and must fit `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.push(field, "string_too_short", "must not be empty");
        } else {
            self.max_len(field, Some(value), max);
        }
    }

    pub fn max_len(&mut self, field: &str, value: Option<&str>, max: usize) {
        if value.is_some_and(|v| v.chars().count() > max) {
            self.push(
                field,
                "string_too_long",
                format!("must have at most {max} characters"),
            );
        }
    }

    pub fn one_of(&mut self, field: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.push(
                field,
                "enum",
                format!("must be one of: {}", allowed.join(", ")),
            );
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.0.is_empty()
    }

    pub fn finish(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// A field of a partial update: absent (leave as is), `null`, or a value.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

/// Declares the body of a partial update: each field a [`Patch`] of the type written
/// (absent: left alone), documented as that type, nullable; `as` names the documented type
/// where it differs (a timestamp parsed leniently).
///
/// ```ignore
/// patch_body! {
///     /// The body of a device update.
///     pub struct DeviceUpdate {
///         name: String,
///         #[serde(rename = "type")]
///         device_type: String,
///         last_seen_at: FlexibleDateTime as chrono::DateTime<chrono::Utc>,
///     }
/// }
/// ```
macro_rules! patch_body {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident { $($fields:tt)* }
    ) => {
        $crate::api::validate::patch_body!(@munch [$(#[$attr])* $vis struct $name] [] $($fields)*);
    };
    (
        @munch $head:tt [$($done:tt)*]
        $(#[$field_attr:meta])* $field_vis:vis $field:ident: $ty:ty as $documented:ty,
        $($rest:tt)*
    ) => {
        $crate::api::validate::patch_body!(@munch $head [$($done)*
            $(#[$field_attr])*
            #[schema(value_type = Option<$documented>)]
            $field_vis $field: $crate::api::validate::Patch<$ty>,
        ] $($rest)*);
    };
    (
        @munch $head:tt [$($done:tt)*]
        $(#[$field_attr:meta])* $field_vis:vis $field:ident: $ty:ty,
        $($rest:tt)*
    ) => {
        $crate::api::validate::patch_body!(@munch $head [$($done)*
            $(#[$field_attr])*
            #[schema(value_type = Option<$ty>)]
            $field_vis $field: $crate::api::validate::Patch<$ty>,
        ] $($rest)*);
    };
    (@munch [$(#[$attr:meta])* $vis:vis struct $name:ident] [$($done:tt)*]) => {
        $(#[$attr])*
        #[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
        #[serde(default)]
        $vis struct $name { $($done)* }
    };
}
pub(crate) use patch_body;

impl<T> Patch<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }

    pub fn value(&self) -> Option<&T> {
        match self {
            Patch::Value(v) => Some(v),
            _ => None,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => Patch::Value(f(v)),
        }
    }

    /// Applies the patch to a nullable field.
    pub fn apply_to_option(self, target: &mut Option<T>) {
        match self {
            Patch::Absent => {}
            Patch::Null => *target = None,
            Patch::Value(v) => *target = Some(v),
        }
    }

    /// Applies the patch to a required field; `null` is a validation error recorded in
    /// `checks` by [`Checks::not_null`] beforehand, so here it leaves the field unchanged.
    pub fn apply_to(self, target: &mut T) {
        if let Patch::Value(v) = self {
            *target = v;
        }
    }
}

impl Patch<String> {
    /// Trims a text value; a blank one becomes `null`.
    pub fn trimmed(self) -> Patch<String> {
        match self.map(|v| v.trim().to_string()) {
            Patch::Value(v) if v.is_empty() => Patch::Null,
            other => other,
        }
    }
}

/// Only for the OpenAPI document, which shows the default of each field: absent is `null`.
impl<T: serde::Serialize> serde::Serialize for Patch<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Patch::Value(v) => serializer.serialize_some(v),
            Patch::Absent | Patch::Null => serializer.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(v) => Patch::Value(v),
            None => Patch::Null,
        })
    }
}

impl Checks {
    /// A required field sent as `null` in a partial update.
    pub fn not_null<T>(&mut self, field: &str, value: &Patch<T>) {
        if matches!(value, Patch::Null) {
            self.push(field, "null", "may not be null");
        }
    }
}

/// A timestamp as clients send it: RFC 3339 with an offset, or without one (taken as UTC,
/// as the original's naive columns were meant), or a bare date.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FlexibleDateTime(pub chrono::DateTime<chrono::Utc>);

impl FlexibleDateTime {
    pub fn parse(text: &str) -> Option<Self> {
        use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
        let text = text.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Some(FlexibleDateTime(t.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
                return Some(FlexibleDateTime(t.and_utc()));
            }
        }
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        Some(FlexibleDateTime(date.and_hms_opt(0, 0, 0)?.and_utc()))
    }
}

impl<'de> Deserialize<'de> for FlexibleDateTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        FlexibleDateTime::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid datetime {text:?}: expected ISO 8601"))
        })
    }
}
