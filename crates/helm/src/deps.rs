//! Helm's dependency processing before rendering
//! (`chartutil.ProcessDependenciesWithMerge`): which subcharts are enabled
//! (`condition`, then `tags`), their aliases, and `import-values`; then,
//! children first, each chart with declared dependencies gets as its
//! defaults its own values merged with its subcharts' and the imported
//! values (the parent's own values win over imported ones).

use serde_json::{Map, Value};

use crate::values::{
    coalesce, coalesce_tables, merge_values, ChartValues, Dependency, ImportValue,
};
use crate::HelmError;

/// Enables, aliases and imports, as Helm does before coalescing.
pub fn process(chart: ChartValues, user: &Map<String, Value>) -> Result<ChartValues, HelmError> {
    let chart = enabled(chart, user, "")?;
    import_values(chart)
}

/// The value at a dotted path (`a.b.c`) of `values`.
fn path_value<'a>(values: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = values.get(parts.next()?)?;
    for p in parts {
        current = current.as_object()?.get(p)?;
    }
    Some(current)
}

/// Helm's `processDependencyEnabled`.
fn enabled(
    mut chart: ChartValues,
    values: &Map<String, Value>,
    path: &str,
) -> Result<ChartValues, HelmError> {
    let Some(mut requirements) = chart.requirements.take() else {
        return Ok(chart);
    };
    // Subcharts no requirement names stay as they are; each requirement
    // takes its chart (a copy under its alias).
    let mut subcharts: Vec<ChartValues> = chart
        .subcharts
        .iter()
        .filter(|s| !requirements.iter().any(|r| r.name == s.name))
        .cloned()
        .collect();
    for r in requirements.iter_mut() {
        if let Some(found) = chart.subcharts.iter().find(|s| s.name == r.name) {
            let mut sub = found.clone();
            if let Some(alias) = r.alias.as_ref().filter(|a| !a.is_empty()) {
                sub.name = alias.clone();
            }
            subcharts.push(sub);
        }
        if let Some(alias) = r.alias.as_ref().filter(|a| !a.is_empty()) {
            r.name = alias.clone();
        }
    }
    chart.subcharts = subcharts;
    chart.requirements = Some(requirements.clone());

    let cvals = coalesce(&chart, values.clone())?;
    let mut states: Vec<(String, bool)> = requirements
        .iter()
        .map(|r| (r.name.clone(), tags_enable(r, &cvals)))
        .collect();
    for (r, state) in requirements.iter().zip(states.iter_mut()) {
        if let Some(decided) = condition(r, &cvals, path) {
            state.1 = decided;
        }
    }
    let disabled: Vec<&String> = states
        .iter()
        .filter(|(_, on)| !on)
        .map(|(n, _)| n)
        .collect();
    chart.subcharts.retain(|s| !disabled.contains(&&s.name));
    requirements.retain(|r| !disabled.contains(&&r.name));
    chart.subcharts = chart
        .subcharts
        .into_iter()
        .map(|s| {
            let sub_path = format!("{path}{}.", s.name);
            enabled(s, &cvals, &sub_path)
        })
        .collect::<Result<_, _>>()?;
    chart.requirements = Some(requirements);
    Ok(chart)
}

/// Tags: disabled when some tag is false and none is true.
fn tags_enable(r: &Dependency, cvals: &Map<String, Value>) -> bool {
    let Some(Value::Object(tags)) = cvals.get("tags") else {
        return true;
    };
    let (mut any_true, mut any_false) = (false, false);
    for t in &r.tags {
        match tags.get(t) {
            Some(Value::Bool(true)) => any_true = true,
            Some(Value::Bool(false)) => any_false = true,
            _ => {}
        }
    }
    any_true || !any_false
}

/// The first condition path holding a bool decides.
fn condition(r: &Dependency, cvals: &Map<String, Value>, path: &str) -> Option<bool> {
    let conditions = r.condition.as_deref()?;
    conditions
        .trim()
        .split(',')
        .filter(|c| !c.is_empty())
        .find_map(|c| match path_value(cvals, &format!("{path}{c}")) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        })
}

/// Helm's `processDependencyImportValues` with merge, children first.
fn import_values(mut chart: ChartValues) -> Result<ChartValues, HelmError> {
    chart.subcharts = chart
        .subcharts
        .into_iter()
        .map(import_values)
        .collect::<Result<_, _>>()?;
    let Some(requirements) = chart.requirements.clone() else {
        return Ok(chart);
    };
    let cvals = merge_values(&chart, Map::new())?;
    let mut imported = Map::new();
    for r in &requirements {
        for iv in &r.import_values {
            let (child, parent) = match iv {
                ImportValue::Exports(name) => (format!("exports.{name}"), ".".to_owned()),
                ImportValue::Path { child, parent } => (child.clone(), parent.clone()),
            };
            let Some(Value::Object(table)) = path_value(&cvals, &format!("{}.{child}", r.name))
            else {
                continue;
            };
            let mut incoming = path_to_map(&parent, table.clone());
            coalesce_tables(&mut incoming, std::mem::take(&mut imported), true);
            imported = incoming;
        }
    }
    let mut values = cvals;
    coalesce_tables(&mut values, imported, true);
    chart.values = values;
    Ok(chart)
}

/// `a.b` and a table → `{a: {b: table}}`; `.` → the table itself.
fn path_to_map(path: &str, table: Map<String, Value>) -> Map<String, Value> {
    if path == "." || path.is_empty() {
        return table;
    }
    let mut out = Value::Object(table);
    for part in path.rsplit('.').filter(|p| !p.is_empty()) {
        let mut m = Map::new();
        m.insert(part.to_owned(), out);
        out = Value::Object(m);
    }
    match out {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn paths_become_nested_maps() {
        assert_eq!(
            Value::Object(path_to_map(".", map(json!({"a": 1})))),
            json!({"a": 1})
        );
        assert_eq!(
            Value::Object(path_to_map("x.y", map(json!({"a": 1})))),
            json!({"x": {"y": {"a": 1}}})
        );
    }

    #[test]
    fn tags_disable_only_without_a_true_tag() {
        let r = Dependency {
            tags: vec!["front".into(), "back".into()],
            ..Default::default()
        };
        assert!(tags_enable(&r, &map(json!({}))));
        assert!(!tags_enable(&r, &map(json!({"tags": {"front": false}}))));
        assert!(tags_enable(
            &r,
            &map(json!({"tags": {"front": false, "back": true}}))
        ));
        assert!(tags_enable(&r, &map(json!({"tags": {"front": "no"}}))));
    }

    #[test]
    fn the_first_bool_condition_decides() {
        let r = Dependency {
            condition: Some("db.enabled,global.db.enabled".into()),
            ..Default::default()
        };
        assert_eq!(
            condition(&r, &map(json!({"db": {"enabled": false}})), ""),
            Some(false)
        );
        assert_eq!(
            condition(
                &r,
                &map(json!({"db": {"enabled": "x"}, "global": {"db": {"enabled": true}}})),
                ""
            ),
            Some(true)
        );
        assert_eq!(condition(&r, &map(json!({})), ""), None);
    }
}
