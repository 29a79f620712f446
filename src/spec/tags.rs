//! A scenario's tags, parsed once into what they say: its stable id (`@id:`), the
//! scope items it covers (`@scope:`), its language (`@lang-he`), the fault drivers it
//! needs (`@fault:<kind>`) and whether it is destructive. Plan, runner and reports
//! read these fields instead of searching the strings again.

/// What a scenario's tags (feature, rule and scenario tags, without `@`) say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScenarioTags {
    /// The stable id (`@id:k8s-…`), if tagged.
    pub id: Option<String>,
    /// The scope items (`@scope:<key>`) it covers, in tag order.
    pub scope: Vec<String>,
    /// Written in Hebrew (`@lang-he`).
    pub hebrew: bool,
    /// The fault drivers it needs (`@fault:<kind>`), in tag order.
    pub fault_kinds: Vec<String>,
    /// Changes the environment beyond its own investigations (`@destructive`).
    pub destructive: bool,
}

impl ScenarioTags {
    pub fn parse<S: AsRef<str>>(tags: impl IntoIterator<Item = S>) -> ScenarioTags {
        let mut t = ScenarioTags::default();
        for tag in tags {
            let tag = tag.as_ref();
            if let Some(id) = tag.strip_prefix("id:") {
                t.id.get_or_insert_with(|| id.to_string());
            } else if let Some(key) = tag.strip_prefix("scope:") {
                t.scope.push(key.to_string());
            } else if let Some(kind) = tag.strip_prefix("fault:") {
                t.fault_kinds.push(kind.to_string());
            } else if tag == "lang-he" {
                t.hebrew = true;
            } else if tag == "destructive" {
                t.destructive = true;
            }
        }
        t
    }

    /// Whether a tag is one of the structural ones (`id:`, `scope:`) that the report
    /// shows as links, not as a tag.
    pub fn is_structural(tag: &str) -> bool {
        tag.starts_with("id:") || tag.starts_with("scope:")
    }
}

#[cfg(test)]
mod tests {
    use super::ScenarioTags;

    #[test]
    fn tags_say_what_they_mean() {
        let t = ScenarioTags::parse([
            "k8s",
            "scope:k8s-limits",
            "id:k8s-200-in-parallel",
            "lang-he",
            "fault:kubernetes",
            "destructive",
            "scope:k8s-network",
            "id:second",
        ]);
        assert_eq!(t.id.as_deref(), Some("k8s-200-in-parallel"));
        assert_eq!(t.scope, ["k8s-limits", "k8s-network"]);
        assert!(t.hebrew && t.destructive);
        assert_eq!(t.fault_kinds, ["kubernetes"]);
        let none = ScenarioTags::parse(Vec::<String>::new());
        assert_eq!(none, ScenarioTags::default());
        assert!(ScenarioTags::is_structural("id:x") && !ScenarioTags::is_structural("k8s"));
    }
}
