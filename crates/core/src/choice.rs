//! Closed sets of named options that libraries offer (a mode, an encoding, a
//! preset), described once beside the type so every front end can list, parse
//! and explain them: the CLI turns them into flag values with help text, a web
//! form into a select, without a mirror type of its own.

/// An option of a closed set, with a name and a one-line explanation.
pub trait Choice: Copy + PartialEq + Send + Sync + 'static {
    /// Every option: its value, its name (as typed and as serialised) and what it does.
    const CHOICES: &'static [(Self, &'static str, &'static str)];

    fn name(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(value, _, _)| *value == self)
            .map(|(_, name, _)| *name)
            .expect("every value is listed in CHOICES")
    }

    /// The option called `name`, if there is one.
    fn from_name(name: &str) -> Option<Self> {
        Self::CHOICES
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(value, _, _)| *value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::Balance;

    #[test]
    fn names_round_trip_and_match_serde() {
        for &(value, name, help) in Balance::CHOICES {
            assert_eq!(Balance::from_name(name), Some(value));
            assert_eq!(value.name(), name);
            assert_eq!(serde_json::to_value(value).unwrap(), name);
            assert!(!help.is_empty());
        }
        assert_eq!(Balance::from_name("sometimes"), None);
    }
}
