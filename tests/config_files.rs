//! The shipped config files: the default config, the examples, and the checked-in JSON Schema.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use agno_run::config::{LoadOptions, load, schema};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn assert_clean(paths: &[PathBuf]) {
    // An empty environment: the shipped files must load on a machine with no variables set.
    let loaded = load(paths, &LoadOptions::with_env(HashMap::new()));
    assert!(loaded.report.diagnostics.is_empty(), "{paths:?}: {:#?}", loaded.report.diagnostics);
    assert!(loaded.config.is_some());
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    v.sort();
    v
}

#[test]
fn the_checked_in_schema_equals_the_generated_one() {
    let path = root().join("configs/agno-run.schema.json");
    let checked_in: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        checked_in,
        schema::json_schema(),
        "configs/agno-run.schema.json is stale: run `cargo run -- schema > configs/agno-run.schema.json`"
    );
}

#[test]
fn the_default_config_is_valid_without_any_environment_variable() {
    assert_clean(&[root().join("configs")]);
    let loaded = load(&[root().join("configs/app.yaml")], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.unwrap();
    assert_eq!(config.agents.len(), 2);
    assert_eq!(config.teams.len(), 1);
    assert_eq!(config.workflows.len(), 1);
    assert!(config.models.contains_key("openai") && config.models.contains_key("offline"));
    assert_eq!(config.agents["assistant"].model, "offline", "offline unless AGNO_RUN_MODEL says otherwise");
}

#[test]
fn every_example_is_valid_on_its_own() {
    let files = yaml_files(&root().join("examples"));
    assert!(files.len() >= 10, "one example per feature area");
    for f in files {
        assert_clean(&[f]);
    }
    assert_clean(&[root().join("examples/multi-file")]);
}

#[test]
fn every_shipped_config_points_editors_at_the_checked_in_schema() {
    let mut files = yaml_files(&root().join("configs"));
    files.extend(yaml_files(&root().join("examples")));
    files.extend(yaml_files(&root().join("examples/multi-file")));
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let target = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| panic!("{} lacks the yaml-language-server modeline", f.display()));
        let schema = f.parent().unwrap().join(target);
        assert!(schema.is_file(), "{}: modeline points at missing {}", f.display(), schema.display());
    }
}

#[test]
fn teams_and_workflows_resolve_into_typed_members_and_steps() {
    use agno_run::config::template::Part;
    use agno_run::config::{Member, OnError, StepKind};
    let loaded = load(&[root().join("examples/workflows.yaml")], &LoadOptions::with_env(HashMap::new()));
    let config = loaded.config.expect("the example loads");
    assert_eq!(config.teams["publishers"].members, [Member::Agent("writer".into()), Member::Agent("editor".into())]);
    let steps = &config.workflows["blog_post"].steps;
    let kinds: Vec<&str> = steps
        .iter()
        .map(|s| match &s.kind {
            StepKind::Agent { .. } => "agent",
            StepKind::Team { .. } => "team",
            StepKind::Parallel(_) => "parallel",
            StepKind::Condition { .. } => "condition",
            StepKind::Loop { .. } => "loop",
            StepKind::Router { .. } => "router",
        })
        .collect();
    for kind in ["parallel", "condition", "loop", "router"] {
        assert!(kinds.contains(&kind), "{kind}: {kinds:?}");
    }
    // Templates arrive parsed, and tests typed.
    let templated = steps
        .iter()
        .find_map(|s| match &s.kind {
            StepKind::Agent { input: Some(t), .. } | StepKind::Team { input: Some(t), .. } => Some(t),
            _ => None,
        })
        .expect("a step with an input template");
    assert!(templated.parts.iter().any(|p| !matches!(p, Part::Text(_))), "{templated:?}");
    // Expressions arrive compiled.
    let (condition, publish) = steps
        .iter()
        .find_map(|s| match &s.kind {
            StepKind::Condition { condition, steps, .. } => Some((condition, &steps[0])),
            _ => None,
        })
        .unwrap();
    assert_eq!(condition.steps(), ["review"]);
    assert_eq!(publish.on_error, OnError::Fail);
    let vars = serde_json::json!({"steps": {"review": {"content": "APPROVED"}}});
    assert_eq!(condition.eval_bool(vars.as_object().unwrap()), Ok(true));
    assert!(steps.iter().any(|s| matches!(&s.kind, StepKind::Loop { max_iterations: 3, end_condition: Some(_), .. })));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    std::fs::write(
        &path,
        "version: 1\nmodels:\n  m: {provider: scripted}\nagents:\n  a: {model: m}\nteams:\n  inner: {model: m, members: [a]}\n  outer: {model: m, members: [a, inner]}\n",
    )
    .unwrap();
    let nested = load(&[path], &LoadOptions::with_env(HashMap::new()));
    let config = nested.config.expect("loads");
    assert_eq!(config.teams["outer"].members, [Member::Agent("a".into()), Member::Team("inner".into())]);
}
