//! Compliance rules: an artifact is compliant when its pipeline's template is satisfied.

use std::collections::BTreeMap;

/// The verdict on one artifact, with the reasons when it is not compliant.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    pub compliant: bool,
    pub reasons: Vec<String>,
}

/// Every template evidence name must have been received and its latest report must be compliant.
/// Evidence outside the template counts too: a non-compliant extra report makes the artifact non-compliant.
/// `latest` maps evidence name → compliant flag of the latest report of that name.
pub fn artifact_verdict(template: &[String], latest: &BTreeMap<String, bool>) -> Verdict {
    let mut reasons = Vec::new();
    for name in template {
        match latest.get(name) {
            None => reasons.push(format!("missing evidence: {name}")),
            Some(false) => reasons.push(format!("non-compliant evidence: {name}")),
            Some(true) => {}
        }
    }
    for (name, ok) in latest {
        if !ok && !template.contains(name) {
            reasons.push(format!("non-compliant evidence: {name}"));
        }
    }
    Verdict {
        compliant: reasons.is_empty(),
        reasons,
    }
}

/// The word shown for a verdict.
pub fn state_word(compliant: bool) -> &'static str {
    if compliant {
        "COMPLIANT"
    } else {
        "NON-COMPLIANT"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest(items: &[(&str, bool)]) -> BTreeMap<String, bool> {
        items.iter().map(|(n, c)| (n.to_string(), *c)).collect()
    }

    #[test]
    fn missing_and_failing_evidence_are_reasons() {
        let template = vec!["branch-coverage".to_string(), "unit-test".to_string()];
        let v = artifact_verdict(&template, &latest(&[("unit-test", false)]));
        assert!(!v.compliant);
        assert_eq!(
            v.reasons,
            vec![
                "missing evidence: branch-coverage",
                "non-compliant evidence: unit-test"
            ]
        );
        let ok = artifact_verdict(
            &template,
            &latest(&[("unit-test", true), ("branch-coverage", true)]),
        );
        assert!(ok.compliant);
    }

    #[test]
    fn empty_template_depends_only_on_reports() {
        assert!(artifact_verdict(&[], &latest(&[])).compliant);
        assert!(!artifact_verdict(&[], &latest(&[("snyk", false)])).compliant);
    }
}
