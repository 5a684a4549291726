//! The layering ARCHITECTURE.md describes, checked on the source: a layer imports only the
//! layers below it, and nothing below the API knows about HTTP.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

/// The top-level modules of `src/` that a file refers to (`crate::x`, `use crate::{x, ...}`).
fn crate_modules_used(source: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Names at depth 0 of the group: `use crate::{a::b, c, d::{e, f}}`.
            let (mut depth, mut name, mut taking) = (0usize, String::new(), true);
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        used.insert(std::mem::take(&mut name));
                        taking = true;
                    }
                    c if depth == 0 && taking && (c.is_alphanumeric() || c == '_') => name.push(c),
                    c if depth == 0 && !c.is_whitespace() && !name.is_empty() => taking = false,
                    _ => {}
                }
            }
            used.insert(name);
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            used.insert(name);
        }
    }
    used.remove("");
    used
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Layer (top-level module of `src/`) → the layers it uses.
fn layer_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let layer = first.to_str().unwrap().trim_end_matches(".rs").to_string();
        let source = std::fs::read_to_string(&file).unwrap();
        let used = graph.entry(layer.clone()).or_default();
        used.extend(
            crate_modules_used(&source)
                .into_iter()
                .filter(|m| *m != layer),
        );
        if source.contains("poem::") || source.contains("use poem") {
            used.insert("<poem>".into());
        }
    }
    graph
}

#[test]
fn the_import_scanner_reads_paths_and_nested_groups() {
    let used = crate_modules_used(
        "use crate::{api::x, error::{AppError, AppResult}, state::AppState};\nlet _ = crate::time::now();",
    );
    let expected: BTreeSet<String> = ["api", "error", "state", "time"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(used, expected);
}

#[test]
fn layers_import_only_the_layers_below_them_and_only_the_api_speaks_http() {
    // What each layer must never use. `app` (the wiring) and `main` may use everything.
    let above_services = ["api", "app", "jobs", "push", "<poem>"];
    let forbidden: &[(&str, &[&str])] = &[
        ("service", &above_services),
        ("push", &["api", "app", "jobs", "<poem>"]),
        ("jobs", &["api", "app", "<poem>"]),
        (
            "wechat",
            &["api", "app", "jobs", "push", "service", "<poem>"],
        ),
        (
            "mobile_push",
            &["api", "app", "jobs", "push", "service", "state", "<poem>"],
        ),
        (
            "search",
            &[
                "api", "app", "jobs", "push", "service", "wechat", "state", "<poem>",
            ],
        ),
        (
            "cache",
            &[
                "api", "app", "jobs", "push", "service", "wechat", "state", "<poem>",
            ],
        ),
        (
            "config",
            &[
                "api", "app", "jobs", "push", "service", "wechat", "cache", "<poem>",
            ],
        ),
        (
            "edge",
            &[
                "api", "app", "jobs", "push", "service", "wechat", "cache", "state", "<poem>",
            ],
        ),
        (
            "error",
            &[
                "api", "app", "jobs", "push", "service", "wechat", "cache", "<poem>",
            ],
        ),
    ];
    let graph = layer_graph();
    let mut broken = Vec::new();
    for (layer, never) in forbidden {
        let used = graph
            .get(*layer)
            .unwrap_or_else(|| panic!("no layer {layer}"));
        for bad in never.iter().filter(|n| used.contains(**n)) {
            broken.push(format!("{layer} uses {bad}"));
        }
    }
    assert!(broken.is_empty(), "layering broken: {broken:?}");
}
